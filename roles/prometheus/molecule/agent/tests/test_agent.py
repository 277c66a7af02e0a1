"""The agent's samples arrive at the receiver through remote_write."""
import time

import pytest
from monitoring_testlib import container_ip, get, inventory_hosts

testinfra_hosts = inventory_hosts("deb13")


def test_agent_runs_in_agent_mode(host):
    unit = host.file("/etc/systemd/system/prometheus.service").content_string
    assert "--agent" in unit
    assert "--storage.agent.path=/var/lib/prometheus/agent" in unit
    assert "storage.tsdb.retention" not in unit
    flags = get(f"http://{container_ip('deb13')}:9090/api/v1/status/flags").json()["data"]
    assert flags["agent"] == "true"


def test_series_arrive_at_the_receiver():
    api = f"http://{container_ip('deb12')}:9090/api/v1/query"
    for _ in range(40):
        result = get(api, params={"query": 'node_memory_MemTotal_bytes{source="agent-deb13"}'}).json()["data"]["result"]
        if result:
            assert result[0]["metric"]["instance"] == "deb13:9100"
            return
        time.sleep(2)
    pytest.fail("no node_exporter series from the agent at the receiver")


def test_receiver_accepts_remote_write():
    flags = get(f"http://{container_ip('deb12')}:9090/api/v1/status/flags").json()["data"]
    assert flags["web.enable-remote-write-receiver"] == "true"
