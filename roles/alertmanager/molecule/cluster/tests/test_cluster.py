"""Three instances gossip: one delivery for an alert sent to all, shared silences, survives a stopped peer."""
import datetime
import time
import uuid

import pytest
import requests
from monitoring_testlib import (changed_hosts, container_ip, get, inventory_hosts, post_alert, run_playbook,
                               sink_requests, wait_for)

testinfra_hosts = inventory_hosts("deb12")

MEMBERS = ["deb12", "deb13", "deb12b"]


def url(name):
    return f"http://{container_ip(name)}:9093"


@pytest.fixture(scope="module")
def sink():
    return f"http://{container_ip('deb13')}:8080"


def delivered(sink, alertname):
    return [r for r in sink_requests(sink, "/cluster")
            if r["body"]["alerts"][0]["labels"]["alertname"] == alertname and r["body"]["status"] == "firing"]


def test_cluster_of_three_ready():
    for name in MEMBERS:
        status = wait_for(lambda n=name: (lambda s: s if s["cluster"]["status"] == "ready"
                                          and len(s["cluster"]["peers"]) == 3 else None)(
            get(f"{url(n)}/api/v2/status").json()), 60, message=f"{name} to see 3 peers")
        assert len(status["cluster"]["peers"]) == 3


def test_one_alert_to_all_is_delivered_once(sink):
    alertname = f"ClusterOnce{uuid.uuid4().hex[:6]}"
    for name in MEMBERS:
        post_alert(url(name), {"alertname": alertname, "severity": "critical"})
    wait_for(lambda: delivered(sink, alertname), 60, message="the notification")
    # Peers wait position x peer timeout (15 s) before sending; give the last one time to (not) send.
    time.sleep(35)
    assert len(delivered(sink, alertname)) == 1


def test_silence_is_shared():
    now = datetime.datetime.now(datetime.timezone.utc)
    silence = {"matchers": [{"name": "alertname", "value": "Silenced", "isRegex": False, "isEqual": True}],
               "startsAt": now.isoformat(), "endsAt": (now + datetime.timedelta(hours=1)).isoformat(),
               "createdBy": "molecule", "comment": "cluster test"}
    response = requests.post(f"{url('deb12')}/api/v2/silences", json=silence, timeout=10)
    response.raise_for_status()
    silence_id = response.json()["silenceID"]
    for name in ("deb13", "deb12b"):
        wait_for(lambda n=name: [s for s in get(f"{url(n)}/api/v2/silences").json() if s["id"] == silence_id],
                 30, message=f"the silence on {name}")


def test_delivery_with_one_instance_stopped(host, sink):
    stopped = host.get_host("ansible://deb12b", ansible_inventory=host.backend.ansible_inventory)
    stopped.run("systemctl stop alertmanager")
    try:
        alertname = f"OnePeerDown{uuid.uuid4().hex[:6]}"
        for name in ("deb12", "deb13"):
            post_alert(url(name), {"alertname": alertname, "severity": "critical"})
        wait_for(lambda: delivered(sink, alertname), 60, message="delivery with a stopped peer")
    finally:
        stopped.run("systemctl start alertmanager")


def test_a_restarted_member_is_back_in_the_settled_cluster_when_its_run_ends():
    """A rolling run goes to the next member only once this one has rejoined: right after a run that restarted
    deb12b, its cluster status is settled with all three members (without the wait it is still "settling")."""
    import os
    scenario = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml")
    for retention in ("121h", "120h"):  # a flag of the unit: a restart, then back
        returncode, output = run_playbook(scenario, "--limit", "deb12b", "-e", f"alertmanager_data_retention={retention}")
        assert returncode == 0 and changed_hosts(output) == ["deb12b"], output[-3000:]
        cluster = get(f"{url('deb12b')}/api/v2/status").json()["cluster"]
        assert cluster["status"] == "ready" and len(cluster["peers"]) == 3, cluster


def test_limit_to_one_peer_changes_nothing():
    """Peers come from the inventory, not from facts that only hosts of the play have: a run limited to one
    member renders the same unit and restarts nothing."""
    import os
    scenario = os.path.join(os.environ["MOLECULE_SCENARIO_DIRECTORY"], "converge.yml")
    for member in ("deb12", "deb13"):
        returncode, output = run_playbook(scenario, "--limit", member)
        assert returncode == 0 and changed_hosts(output) == [], output[-3000:]
