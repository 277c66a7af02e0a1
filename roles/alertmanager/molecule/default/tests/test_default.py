"""A test alert posted to Alertmanager reaches the webhook sink, firing and then resolved."""
import uuid

import pytest
from monitoring_testlib import assert_hardened, assert_runs_as_its_own_user, container_ip, inventory_hosts, post_alert, sink_requests, wait_for

testinfra_hosts = inventory_hosts("alertmanager")


@pytest.fixture(scope="module")
def sink():
    return f"http://{container_ip('deb13')}:8080"


def test_service_hardened(host, capsys):
    assert_runs_as_its_own_user(host, "alertmanager")
    assert_hardened(host, "alertmanager.service", capsys)


def test_single_instance_has_no_cluster(host):
    args = host.file("/etc/systemd/system/alertmanager.service").content_string.split()
    assert "--cluster.listen-address=" in args  # empty: clustering off
    assert not [a for a in args if a.startswith("--cluster.peer")]


def test_webhook_url_kept_in_a_secret_file(host):
    config = host.file("/etc/alertmanager/alertmanager.yml").content_string
    assert "deb13:8080" not in config
    assert "url_file: /etc/alertmanager/secrets/" in config


def test_alert_delivered_firing_then_resolved(host, sink):
    name = host.backend.host
    alertmanager = f"http://{container_ip(name)}:9093"
    labels = {"alertname": f"MoleculeTest{uuid.uuid4().hex[:6]}", "instance": "test:1", "severity": "critical"}
    post_alert(alertmanager, labels)

    def delivered(status):
        for request in sink_requests(sink, f"/{name}"):
            body = request["body"]
            if body.get("status") == status and body["alerts"][0]["labels"]["alertname"] == labels["alertname"]:
                return body
        return None

    firing = wait_for(lambda: delivered("firing"), 30, message="the firing notification")
    assert firing["alerts"][0]["labels"] == labels
    assert firing["receiver"] == "sink"
    post_alert(alertmanager, labels, resolved=True)
    resolved = wait_for(lambda: delivered("resolved"), 30, message="the resolved notification")
    assert resolved["alerts"][0]["status"] == "resolved"


def test_amtool_talks_to_the_local_alertmanager(host):
    assert host.run("amtool alert query").rc == 0
    assert host.run("amtool check-config /etc/alertmanager/alertmanager.yml").rc == 0
