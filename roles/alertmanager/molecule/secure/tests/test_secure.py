"""Alertmanager over HTTPS with basic auth, gossip over mutual TLS."""
import pytest
import requests
from monitoring_testlib import container_ip, get, hostvars, inventory_hosts, run_logs, scenario_ca, wait_for  # noqa: F401 (hostvars is a fixture)

testinfra_hosts = inventory_hosts("alertmanager")
CA = scenario_ca()


@pytest.fixture(scope="module")
def api(host):
    return f"https://{container_ip(host.backend.host)}:9093/api/v2"


def test_cluster_ready_over_tls_gossip(host, api, hostvars):
    auth = ("admin", hostvars["test_admin_password"])
    status = wait_for(lambda: (lambda s: s if s["cluster"]["status"] == "ready" and len(s["cluster"]["peers"]) == 2
                               else None)(get(f"{api}/status", auth=auth, ca=CA).json()), 60, message="2 peers")
    assert len(status["cluster"]["peers"]) == 2
    assert "--cluster.tls-config=/etc/alertmanager/cluster-tls.yml" in \
        host.file("/etc/systemd/system/alertmanager.service").content_string


def test_credentials_required(api, hostvars):
    assert get(f"{api}/status", ca=CA).status_code == 401
    assert get(f"{api}/status", auth=("admin", "wrong"), ca=CA).status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        get(f"{api}/status", auth=("admin", hostvars["test_admin_password"]))


def test_plain_http_refused(api, hostvars):
    try:
        response = get(api.replace("https://", "http://") + "/status", auth=("admin", hostvars["test_admin_password"]))
    except requests.exceptions.ConnectionError:
        return
    assert response.status_code == 400


def test_amtool_uses_tls_and_credentials(host):
    assert host.run("amtool cluster show").rc == 0
    amtool = host.file("/etc/amtool/http.yml")
    assert (amtool.user, amtool.mode) == ("root", 0o600)


def test_password_absent_from_logs(hostvars):
    text = run_logs()
    assert "Apply the files of" in text
    assert hostvars["test_admin_password"] not in text
