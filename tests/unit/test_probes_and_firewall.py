"""Blackbox probe jobs (prometheus role) and the host firewall's rules (monitoring_common), from inventory data."""
import shutil
import subprocess

import pytest
from monitoring_firewall import monitoring_firewall_ports, monitoring_firewall_ruleset
from prometheus import prometheus_probe_jobs, prometheus_probe_problems

BLACKBOX = {"scheme": "https", "targets": ["bb1:9115"], "username": "prometheus", "password": "pw", "path": ""}
GROUPS = {"all": ["prom1", "prom2", "db1", "am1", "am2", "graf1", "outsider"], "prometheus": ["prom1", "prom2"],
          "postgres": ["db1"], "redis": ["db1"], "node_exporter": ["db1", "prom1"], "alertmanager": ["am1", "am2"],
          "grafana": ["graf1"], "app": ["db1"], "blackbox": ["prom1"]}
HOSTVARS = {host: {} for host in GROUPS["all"]}


def test_probe_jobs_ask_the_blackbox_for_each_target():
    jobs = prometheus_probe_jobs([{"name": "health", "module": "http_2xx", "group": "app", "url": "http://{host}:3001/health"},
                                  {"name": "site", "module": "http_2xx_tls", "targets": ["https://shop.example/"]}],
                                 BLACKBOX, groups=GROUPS, hostvars=dict(HOSTVARS, db1={"monitoring_scrape_address": "10.0.0.5"}))
    health, site = jobs
    assert health["targets"] == ["http://10.0.0.5:3001/health"] and site["targets"] == ["https://shop.example/"]
    assert health["metrics_path"] == "/probe" and health["params"] == {"module": ["http_2xx"]}
    assert health["relabel_configs"][-1] == {"target_label": "__address__", "replacement": "bb1:9115"}
    assert health["basic_auth"] == {"username": "prometheus", "password": "pw"} and health["labels"] == {"module": "http_2xx"}


def test_the_stack_probe_covers_every_https_endpoint():
    endpoints = {"node": {"scheme": "https", "targets": ["db1:9100"], "path": "", "metrics_path": "/metrics"},
                 "prometheus": {"scheme": "https", "targets": ["prom1:9090"], "path": "/prometheus", "metrics_path": "/metrics"},
                 "grafana": {"scheme": "http", "targets": ["graf1:3000"], "path": "", "metrics_path": "/metrics"}}
    [stack] = prometheus_probe_jobs([], BLACKBOX, endpoints, "http_stack")
    assert stack["name"] == "stack-tls" and stack["targets"] == ["https://db1:9100/metrics", "https://prom1:9090/prometheus/metrics"]
    assert prometheus_probe_jobs([], None, endpoints, "http_stack") == []
    assert prometheus_probe_jobs([], BLACKBOX, endpoints, "") == []


@pytest.mark.parametrize("probe, message", [
    ({"module": "http_2xx", "targets": ["x"]}, "needs a name"),
    ({"name": "p", "targets": ["x"]}, "needs a module"),
    ({"name": "p", "module": "http_2xx"}, "needs targets"),
    ({"name": "p", "module": "http_2xx", "group": "app", "url": "http://x/"}, "url containing {host}"),
    ({"name": "p", "module": "http_2xx", "group": "nobody", "url": "http://{host}/"}, "group nobody has no hosts"),
    ({"name": "p", "module": "http_2xx", "targets": ["x"], "timeout": "5s"}, "unknown keys: timeout"),
])
def test_bad_probes_are_named(probe, message):
    problems = prometheus_probe_problems([probe], GROUPS, None, ["prom1"])
    assert len(problems) == 1 and message in problems[0]
    # the job builder, rendered before the checks run, passes over what they will name instead of failing
    prometheus_probe_jobs([probe, "not a mapping"], BLACKBOX, {}, "", GROUPS, {})
    assert prometheus_probe_problems([{"name": "p", "module": "m", "targets": ["x"]}], GROUPS, None, []) == [
        "prometheus_probes needs a host in the blackbox group (the blackbox_exporter that probes)"]


def test_firewall_opens_each_port_to_its_clients_only():
    ports = {(r["component"], r["port"], r["proto"]): r for r in monitoring_firewall_ports("db1", GROUPS, HOSTVARS)}
    assert set(ports) == {("node_exporter", 9100, "tcp"), ("postgres_exporter", 9187, "tcp"), ("redis_exporter", 9121, "tcp")}
    assert all(r["sources"] == ["prom1", "prom2"] and not r["operators"] for r in ports.values())
    am = {(r["component"], r["proto"]): r for r in monitoring_firewall_ports("am1", GROUPS, dict(HOSTVARS, am1={
        "alertmanager_listen_address": "0.0.0.0:9493", "monitoring_firewall_address": "10.1.1.1"}))}
    assert am[("alertmanager", "tcp")]["port"] == 9493 and am[("alertmanager", "tcp")]["operators"]
    assert am[("alertmanager", "tcp")]["sources"] == ["10.1.1.1", "am2", "graf1", "prom1", "prom2"]
    assert am[("alertmanager gossip", "udp")]["sources"] == sorted(["10.1.1.1", "am2"])
    assert monitoring_firewall_ports("outsider", GROUPS, HOSTVARS) == []


def test_ruleset_replaces_only_its_own_table_and_never_names_ssh():
    rules = monitoring_firewall_ports("prom1", GROUPS, HOSTVARS)
    text = monitoring_firewall_ruleset(rules, ["10.20.0.0/16", "fd00::/8"])
    assert text.count("delete table inet monitoring_stack") == 1 and "flush ruleset" not in text
    assert "policy accept;" in text and "iif lo accept" in text and "dport 22 " not in text
    assert "tcp dport 9090 ip saddr { graf1, prom1, prom2, 10.20.0.0/16 } accept" in text
    assert "tcp dport 9090 ip6 saddr { fd00::/8 } accept" in text
    assert "tcp dport 9100 ip saddr { prom1, prom2 } accept\n    tcp dport 9100 drop" in text


@pytest.mark.skipif(not shutil.which("nft"), reason="nft is not installed on this controller")
def test_ruleset_parses_with_nft(tmp_path):
    path = tmp_path / "fw.nft"
    path.write_text(monitoring_firewall_ruleset(
        [{"component": "x", "port": 9100, "proto": "tcp", "sources": ["127.0.0.1"], "operators": True}], ["10.0.0.0/8"]))
    assert subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, check=False).returncode == 0
