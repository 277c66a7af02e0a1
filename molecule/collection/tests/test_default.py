"""Prometheus scraping itself and node_exporters, rules loaded, retention flags, promtool query."""
import os
import time

import pytest
from monitoring_testlib import assert_hardened, assert_runs_as_its_own_user, container_ip, get, inventory_hosts, prometheus_targets, wait_for

testinfra_hosts = inventory_hosts("prometheus")


@pytest.fixture(scope="module")
def api(host):
    return f"http://{container_ip(host.backend.host)}:9090/api/v1"


def test_service_runs_hardened(host, capsys):
    assert_runs_as_its_own_user(host, "prometheus")
    assert_hardened(host, "prometheus.service", capsys)


def test_every_target_up(api):
    targets = prometheus_targets(api)
    jobs = {(t["labels"]["job"], t["labels"]["instance"]) for t in targets}
    assert jobs == {("prometheus", "deb12:9090"), ("prometheus", "deb13:9090"),
                    ("node", "deb12:9100"), ("node", "deb13:9100")}
    assert all(t["health"] == "up" for t in targets), targets


def test_rule_files_loaded(api):
    def evaluated():  # a rule reloaded moments ago is "unknown" until its group's first evaluation
        groups = get(f"{api}/rules").json()["data"]["groups"]
        return groups if all(r.get("health") != "unknown" for g in groups for r in g["rules"]) else None

    groups = wait_for(evaluated, timeout=60, message="every rule evaluated once")
    names = {g["name"] for g in groups}
    assert {"node_alerts", "api_alerts", "business_alerts", "molecule"} <= names
    assert [r["name"] for g in groups for r in g["rules"] if r.get("health") != "ok"] == []


def test_retention_flags_in_effect(api):
    flags = get(f"{api}/status/flags").json()["data"]
    assert flags["storage.tsdb.retention.time"] == "3d"
    assert flags["storage.tsdb.retention.size"] == "1GiB"  # Prometheus reports the size in binary units
    assert flags["storage.tsdb.path"] == "/var/lib/prometheus/data"


def test_promtool_query_returns_node_metrics(host):
    for _ in range(20):
        out = host.run("promtool query instant http://127.0.0.1:9090 'node_memory_MemTotal_bytes'")
        if out.rc == 0 and "deb12:9100" in out.stdout and "deb13:9100" in out.stdout:
            return
        time.sleep(1)
    pytest.fail(out.stdout + out.stderr)


def test_tsdb_is_the_only_writable_path(host):
    unit = host.file("/etc/systemd/system/prometheus.service").content_string
    assert [line for line in unit.splitlines() if line.startswith("ReadWritePaths=")] == \
        ["ReadWritePaths=/var/lib/prometheus"]
    assert "ProtectSystem=strict" in unit
    data = host.file("/var/lib/prometheus")
    assert (data.user, data.mode) == ("prometheus", 0o750)
