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
# The firewall admits literal addresses only: the inventory gives them (or the controller resolves the names).
ADDRESSES = {"prom1": "10.0.0.1", "prom2": "10.0.0.2", "db1": "10.0.0.3", "am1": "10.0.0.4", "am2": "10.0.0.5",
             "graf1": "10.0.0.6", "outsider": "10.0.0.7"}
HOSTVARS = {host: {"monitoring_firewall_address": address} for host, address in ADDRESSES.items()}


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
    assert all(r["sources"] == ["10.0.0.1/32", "10.0.0.2/32"] and not r["operators"] for r in ports.values())
    am = {(r["component"], r["proto"]): r for r in monitoring_firewall_ports("am1", GROUPS, dict(HOSTVARS, am1={
        "alertmanager_listen_address": "0.0.0.0:9493", "monitoring_firewall_address": "10.1.1.1"}))}
    assert am[("alertmanager", "tcp")]["port"] == 9493 and am[("alertmanager", "tcp")]["operators"]
    assert am[("alertmanager", "tcp")]["sources"] == ["10.0.0.1/32", "10.0.0.2/32", "10.0.0.5/32", "10.0.0.6/32",
                                                      "10.1.1.1/32"]
    assert am[("alertmanager gossip", "udp")]["sources"] == ["10.0.0.5/32", "10.1.1.1/32"]
    assert monitoring_firewall_ports("outsider", GROUPS, HOSTVARS) == []


def test_ruleset_replaces_only_its_own_table_and_never_names_ssh():
    rules = monitoring_firewall_ports("prom1", GROUPS, HOSTVARS)
    text = monitoring_firewall_ruleset(rules, ["10.20.0.0/16", "fd00::/8"])
    assert text.count("delete table inet monitoring_stack") == 1 and "flush ruleset" not in text
    assert "policy accept;" in text and "iif lo accept" in text and "dport 22 " not in text
    assert "tcp dport 9090 ip saddr { 10.0.0.1, 10.0.0.2, 10.0.0.6, 10.20.0.0/16 } accept" in text
    assert "tcp dport 9090 ip6 saddr { fd00::/8 } accept" in text
    assert "tcp dport 9100 ip saddr { 10.0.0.1, 10.0.0.2 } accept\n    tcp dport 9100 drop" in text


def test_sources_are_literal_addresses_resolved_on_the_controller():
    """A name in the table would be resolved by nft at boot: one that does not resolve then (DNS not up) fails the
    whole file and leaves every port open. The controller resolves names; what it cannot resolve is an error."""
    hostvars = dict(HOSTVARS, prom1={"monitoring_scrape_address": "localhost"}, prom2={
        "monitoring_firewall_address": ["192.0.2.7", "2001:db8::7", "198.51.100.0/24"]})
    [rule] = [r for r in monitoring_firewall_ports("db1", GROUPS, hostvars) if r["port"] == 9100]
    assert {"127.0.0.1/32", "192.0.2.7/32", "198.51.100.0/24", "2001:db8::7/128"} <= set(rule["sources"])
    text = monitoring_firewall_ruleset([rule])
    assert "ip6 saddr { " in text and "2001:db8::7" in text and "localhost" not in text
    with pytest.raises(Exception, match=r"cannot resolve 'no-such-host.invalid' \(host prom1\); set monitoring_firewall_address"):
        monitoring_firewall_ports("db1", GROUPS, dict(HOSTVARS, prom1={"monitoring_scrape_address": "no-such-host.invalid"}))


def test_the_probing_host_reaches_every_stack_port():
    """The blackbox host probes each endpoint's certificate: a client of every stack port, exporters included."""
    groups = dict(GROUPS, blackbox=["outsider"])
    for host in ("db1", "am1", "prom1", "graf1"):
        rules = [r for r in monitoring_firewall_ports(host, groups, HOSTVARS) if "gossip" not in r["component"]]
        assert rules and all("10.0.0.7/32" in r["sources"] for r in rules), host


@pytest.mark.skipif(not shutil.which("nft"), reason="nft is not installed on this controller")
def test_ruleset_parses_with_nft(tmp_path):
    path = tmp_path / "fw.nft"
    path.write_text(monitoring_firewall_ruleset(
        [{"component": "x", "port": 9100, "proto": "tcp", "sources": ["127.0.0.1"], "operators": True}], ["10.0.0.0/8"]))
    assert subprocess.run(["nft", "-c", "-f", str(path)], capture_output=True, check=False).returncode == 0
