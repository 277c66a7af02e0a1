"""The exporters next to real services, the blackbox probes and the host firewall.

deb13 runs PostgreSQL, Redis (a password with $ " \\ and ü) and the test service with postgres_exporter,
redis_exporter and node_exporter; deb12 runs Prometheus, deb12b blackbox_exporter. Every endpoint is HTTPS with
basic auth; the firewall lets only Prometheus and the probing host reach the exporters, not an outsider (a
throwaway container on the same network).
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
from monitoring_testlib import (SERVICES, assert_golden_unit, assert_hardened, changed_hosts, container_ip, get, hostvars,  # noqa: F401
                                inventory_hosts, queries_without_data, run_logs, run_playbook, scenario_ca, wait_for)

testinfra_hosts = inventory_hosts("deb13")
CA = scenario_ca()
AUTH = ("prometheus", "Exp-scrape-pw-3a91c7")  # monitoring_basic_auth_users in molecule.yml
ROOT = Path(os.environ["MONITORING_ROOT"])
EXPORTER_JOBS = {"node": 9100, "postgres": 9187, "redis": 9121, "blackbox": 9115}


@pytest.fixture(scope="module")
def prometheus():
    return f"https://{container_ip('deb12')}:9090/api/v1"


def query(prometheus, expr):
    return get(f"{prometheus}/query", auth=AUTH, ca=CA, params={"query": expr}).json()["data"]["result"]


def from_container(container, url, auth=None, timeout=3):
    """GET url from inside a container (the firewall sees that container as the source): (status, body), or
    (None, error) when the connection is refused or times out. container None: a new container in no group."""
    script = f"""
import base64, json, ssl, sys, urllib.request, urllib.error
request = urllib.request.Request({url!r})
auth = {list(auth) if auth else None!r}
if auth:
    request.add_header("Authorization", "Basic " + base64.b64encode(":".join(auth).encode()).decode())
context = ssl.create_default_context(cafile="/etc/ssl/monitoring-ca.crt") if {url!r}.startswith("https") else None
try:
    answer = urllib.request.urlopen(request, timeout={timeout}, context=context)
    print(json.dumps([answer.status, answer.read().decode()]))
except urllib.error.HTTPError as error:
    print(json.dumps([error.code, ""]))
except Exception as error:
    print(json.dumps([None, repr(error)]))
"""
    if container is None:
        command = ["docker", "run", "--rm", "-i", "--network", "monitoring-molecule", "-v",
                   f"{CA}:/etc/ssl/monitoring-ca.crt:ro", "monitoring-stack/debian:12", "python3", "-"]
    else:
        subprocess.run(["docker", "cp", CA, f"{container}:/etc/ssl/monitoring-ca.crt"], check=True, capture_output=True)
        command = ["docker", "exec", "-i", container, "python3", "-"]
    out = subprocess.run(command, input=script, text=True, capture_output=True, check=True).stdout
    return tuple(json.loads(out))


OUTSIDER = None  # from_container(OUTSIDER, ...): a host in no group of the stack


def test_prometheus_scrapes_every_exporter_over_https(prometheus):
    def up():
        targets = get(f"{prometheus}/targets", auth=AUTH, ca=CA).json()["data"]["activeTargets"]
        return {t["labels"]["job"]: t["scrapeUrl"] for t in targets if t["labels"]["job"] in EXPORTER_JOBS and t["health"] == "up"}
    wait_for(lambda: len(up()) == len(EXPORTER_JOBS), 90, message="every exporter job up")
    assert up() == {"node": "https://deb13:9100/metrics", "postgres": "https://deb13:9187/metrics",
                    "redis": "https://deb13:9121/metrics", "blackbox": "https://deb12b:9115/metrics"}
    assert wait_for(lambda: query(prometheus, 'pg_database_size_bytes{datname="postgres"} > 0'), 30,
                    message="database sizes from PostgreSQL")
    assert wait_for(lambda: query(prometheus, 'redis_up{job="redis"} == 1'), 30, message="redis_up 1")


@pytest.mark.parametrize("port, metric", [(9121, "redis_up 1"), (9187, "pg_up 1"), (9100, "node_uname_info")])
def test_exporters_need_tls_and_credentials(port, metric):
    url = f"https://deb13:{port}/metrics"
    assert from_container("deb12", url)[0] == 401
    status, body = from_container("deb12", url, auth=AUTH)
    assert status == 200 and metric in body


def test_redis_exporter_accepts_only_the_scrape_user():
    # redis_exporter takes one user: monitoring_scrape_user, so the health user's password is refused there.
    assert from_container("deb12", "https://deb13:9121/metrics", auth=("health", "Exp-health-pw-77d0e1"))[0] == 401


def test_redis_password_only_in_a_root_only_environment_file(host, hostvars):
    secret = host.file("/etc/redis_exporter/environment")
    assert (secret.user, secret.group, secret.mode) == ("root", "root", 0o600)
    unit = host.file("/etc/systemd/system/redis_exporter.service").content_string
    assert "EnvironmentFile=/etc/redis_exporter/environment" in unit
    for value in (hostvars["test_redis_password"], AUTH[1]):
        assert value not in unit and value not in run_logs()
        assert value not in host.run("ps -eo args").stdout


def test_postgres_password_only_in_its_secret_file(host, hostvars):
    secret = host.file("/etc/postgres_exporter/secrets/password")
    assert (secret.user, secret.group, secret.mode) == ("root", "postgres_exporter", 0o640)
    assert secret.content_string == hostvars["test_db_password"]
    unit = host.file("/etc/systemd/system/postgres_exporter.service").content_string
    assert "DATA_SOURCE_PASS_FILE=/etc/postgres_exporter/secrets/password" in unit
    assert hostvars["test_db_password"] not in unit
    assert hostvars["test_db_password"] not in run_logs()


def test_blackbox_probes_the_health_endpoint_and_the_broken_url(prometheus):
    assert wait_for(lambda: query(prometheus, 'probe_success{job="app-health", instance="http://deb13:3002/health"} == 1'),
                    60, message="the /health probe succeeding")
    assert wait_for(lambda: query(prometheus, 'probe_success{job="broken-url"} == 0'), 60, message="the broken URL failing")

    def alert():
        groups = get(f"{prometheus}/rules", auth=AUTH, ca=CA).json()["data"]["groups"]
        return [a for g in groups for r in g["rules"] if r["name"] == "ProbeFailed" for a in r.get("alerts", [])
                if a["labels"]["job"] == "broken-url" and a["state"] in ("pending", "firing")]
    assert wait_for(alert, 30, message="ProbeFailed pending or firing for the broken URL")
    assert not [a for a in alert() if a["labels"]["job"] == "app-health"]


def test_every_https_endpoint_of_the_stack_reports_its_certificate_expiry(prometheus):
    expected = {f"https://deb13:{port}/metrics" for port in (9100, 9121, 9187)} | {
        "https://deb12:9090/metrics", "https://deb12:9093/metrics", "https://deb12b:9115/metrics"}

    def expiries():
        return {r["metric"]["instance"]: float(r["value"][1])
                for r in query(prometheus, 'probe_ssl_earliest_cert_expiry{job="stack-tls"} - time()')}
    found = wait_for(lambda: expiries() if set(expiries()) == expected else None, 60, message="every endpoint probed")
    # The internal CA signs for 365 days (monitoring_common_pki_cert_days).
    assert all(300 * 86400 < seconds <= 366 * 86400 for seconds in found.values()), found
    # The probing host (not a Prometheus host) passes every host's firewall.
    assert query(prometheus, 'probe_success{job="stack-tls"} == 0') == []


@pytest.mark.parametrize("port", [9100, 9121, 9187])
def test_firewall_lets_only_prometheus_and_the_probing_host_reach_the_exporters(port):
    assert from_container("deb12", f"https://deb13:{port}/metrics", auth=AUTH)[0] == 200
    assert from_container("deb12b", f"https://deb13:{port}/metrics", auth=AUTH)[0] == 200
    status, error = from_container(OUTSIDER, f"https://deb13:{port}/metrics", auth=AUTH)
    assert status is None and "timed out" in error


def test_the_table_names_addresses_only(host):
    """Names would be resolved by nft when the table loads (at boot, maybe before DNS): one that fails leaves every
    port open. The table holds the addresses the inventory gives."""
    table = host.run("nft list table inet monitoring_stack").stdout
    assert container_ip("deb12") in table and container_ip("deb12b") in table
    assert "deb12" not in host.file("/etc/monitoring-stack/firewall.nft").content_string


def test_firewall_leaves_other_ports_and_tables_alone(host):
    # The test service's port is no stack port: open to everyone. The host's own table is still loaded.
    assert from_container(OUTSIDER, "http://deb13:3002/health")[0] == 200
    tables = host.run("nft list tables").stdout
    assert "table inet monitoring_stack" in tables and "table inet host_own" in tables
    assert "dport 22" not in host.run("nft list table inet monitoring_stack").stdout


def test_prometheus_ui_is_closed_to_hosts_outside_the_stack():
    assert from_container(OUTSIDER, "https://deb12:9090/-/healthy")[0] is None


def test_service_dashboards_show_data(prometheus, capsys):
    """Every query of the Services dashboards (PostgreSQL and the app's queries, Redis and the app's cache, probes)
    returns series from this stack."""
    assert queries_without_data(prometheus, AUTH, CA, [f"{SERVICES}*.json"], capsys) == []


def test_a_stopped_postgresql_raises_postgres_down(host, prometheus):
    """Last: PostgreSQL stops, pg_up drops to 0 and the shipped PostgresDown rule becomes active."""
    host.run("systemctl stop postgresql")
    try:
        wait_for(lambda: query(prometheus, "pg_up == 0"), 60, message="pg_up 0")

        def active():
            groups = get(f"{prometheus}/rules", auth=AUTH, ca=CA).json()["data"]["groups"]
            return [r for g in groups for r in g["rules"] if r["name"] == "PostgresDown" and r["state"] in ("pending", "firing")]
        assert wait_for(active, 30, message="PostgresDown pending or firing")
    finally:
        host.run("systemctl start postgresql")


@pytest.mark.parametrize(("name", "unit"), [("deb13", "node_exporter"), ("deb13", "redis_exporter"),
                                            ("deb13", "postgres_exporter"), ("deb12b", "blackbox_exporter")])
def test_exporter_units_are_hardened(host, name, unit, capsys):
    assert_hardened(host.get_host(f"docker://{name}"), f"{unit}.service", capsys)


@pytest.mark.parametrize(("name", "unit"), [
    ("deb13", "node_exporter.service"), ("deb13", "node_exporter-reboot-required.service"),
    ("deb13", "node_exporter-reboot-required.timer"), ("deb13", "postgres_exporter.service"),
    ("deb13", "redis_exporter.service"), ("deb13", "monitoring-firewall.service"), ("deb12b", "blackbox_exporter.service"),
    ("deb12", "prometheus.service"), ("deb12", "alertmanager.service")])
def test_every_unit_is_its_golden_file(host, name, unit):
    """The units (roles/monitoring_common/templates/systemd, roles/monitoring_firewall/templates) as the roles
    render them here: tests/golden/units."""
    assert_golden_unit(host.get_host(f"docker://{name}"), unit)


def test_no_secret_in_the_output(hostvars):
    """converge, idempotence and check ran with --diff: the passwords of PostgreSQL and Redis, and the probe module's
    credential in blackbox.yml (a secret entry), appear nowhere."""
    text = run_logs()
    assert "Apply the files of" in text
    for secret in (hostvars["test_db_password"], "Bb-probe-pw-8e1f42", "Rd-$HOME"):
        assert secret not in text


def test_the_blackbox_host_got_nftables_without_package_lists():
    """prepare removed deb12b's package lists (minimal and cloud images have none): the role refreshed them."""
    proc = subprocess.run(["docker", "exec", "deb12b", "nft", "list", "table", "inet", "monitoring_stack"],
                          capture_output=True, text=True)
    assert proc.returncode == 0 and "9115" in proc.stdout


def test_the_table_survives_an_nftables_reload_and_a_run_restores_it(host):
    """Last: Debian's nftables.conf flushes the whole ruleset. A reload of nftables reloads ours after it
    (ReloadPropagatedFrom); a start of nftables removes it, and the next run loads it again."""
    has_table = lambda: host.run("nft list table inet monitoring_stack").rc == 0  # noqa: E731
    host.run_test("systemctl start nftables && nft flush ruleset")  # what nftables.conf does, and by hand
    assert not has_table()
    code, output = run_playbook(str(ROOT / "site.yml"), "--limit", "deb13", "--tags", "firewall")
    assert code == 0, output[-3000:]
    assert changed_hosts(output) == ["deb13"] and has_table()
    host.run_test("systemctl reload nftables")
    assert wait_for(has_table, 10, message="the table loaded again after the nftables reload")
    code, output = run_playbook(str(ROOT / "site.yml"), "--limit", "deb13", "--tags", "firewall")
    assert code == 0 and changed_hosts(output) == [], output[-3000:]
