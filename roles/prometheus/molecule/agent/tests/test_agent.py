"""The agent's samples arrive at the receiver through remote_write."""
import time

import pytest
from monitoring_testlib import container_ip, get, hostvars, inventory_hosts, run_logs  # noqa: F401 (fixture)

testinfra_hosts = inventory_hosts("deb13")
WRITER = ("writer", "remote-write-pw-9d2e41")  # test_writer_password in molecule.yml


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
        result = get(api, params={"query": 'node_memory_MemTotal_bytes{source="agent-deb13"}'},
                     auth=WRITER).json()["data"]["result"]
        if result:
            assert result[0]["metric"]["instance"] == "deb13:9100"
            return
        time.sleep(2)
    pytest.fail("no node_exporter series from the agent at the receiver")


def test_receiver_accepts_remote_write():
    receiver = f"http://{container_ip('deb12')}:9090/api/v1/status/flags"
    assert get(receiver).status_code == 401
    flags = get(receiver, auth=WRITER).json()["data"]
    assert flags["web.enable-remote-write-receiver"] == "true"


def test_remote_write_secrets(host, hostvars):
    config = host.file("/etc/prometheus/prometheus.yml")
    assert (config.user, config.group, config.mode) == ("root", "prometheus", 0o640)
    text = config.content_string
    assert hostvars["test_writer_password"] not in text
    assert "password_file: /etc/prometheus/secrets/remote_write-1-basic_auth.password" in text
    assert host.file("/etc/prometheus/secrets/remote_write-1-basic_auth.password").content_string == WRITER[1]
    # The header has no file form: it stays in prometheus.yml, which is then never diffed or logged.
    assert hostvars["test_tenant"] in text
    for key in ("test_writer_password", "test_tenant"):
        assert hostvars[key] not in run_logs()
