"""Grafana verifier tests shared by the grafana scenarios (import * into a scenario's test module).

The scenario module defines the `expect` fixture: {"tls": bool, "auth": bool}.
Checks on files run always; checks that need a running Grafana are skipped, with the reason, when
no Grafana artifact was given (MONITORING_GRAFANA_TARBALL).
"""
import configparser
import json
import os
from pathlib import Path

import pytest
import yaml
from monitoring_testlib import (DASHBOARDS_DIR, assert_hardened, container_ip, dashboard_queries, dashboard_result, get, inventory_hosts,
                                run_logs, scenario_ca)

GRAFANA_VERSION = os.environ.get("MONITORING_GRAFANA_VERSION", "")
needs_grafana = pytest.mark.skipif(
    not GRAFANA_VERSION,
    reason="no Grafana artifact given: set MONITORING_GRAFANA_TARBALL to a grafana-<ver>.linux-amd64.tar.gz URL or path")

testinfra_hosts = inventory_hosts("grafana")


def repo_dashboards():
    return {p.relative_to(DASHBOARDS_DIR).as_posix(): json.loads(p.read_text()) for p in sorted(DASHBOARDS_DIR.rglob("*.json"))}


def ini(host):
    parser = configparser.ConfigParser(interpolation=None, strict=True)
    parser.read_string(host.check_output("cat /etc/grafana/grafana.ini"))
    return parser


def provisioning(host, path):
    return yaml.safe_load(host.check_output(f"cat /etc/grafana/provisioning/{path}"))


@pytest.fixture(scope="module")
def ca(expect):
    return scenario_ca() if expect["tls"] else None


@pytest.fixture(scope="module")
def grafana(host, expect):
    return f"{'https' if expect['tls'] else 'http'}://{container_ip(host.backend.host)}:3000"


def scrape_password(hostvars):
    """The scenario's scrape password; read from its file where the inventory takes it from one (a value
    Ansible must not template), since the verifier sees the inventory's templates unrendered."""
    if "test_scrape_password_file" in hostvars:
        return Path(hostvars["test_scrape_password_file"]).read_text(encoding="utf-8")
    return hostvars.get("test_scrape_password")


@pytest.fixture(scope="module")
def admin(hostvars):
    return ("admin", hostvars["grafana_admin_password"])


@pytest.fixture(scope="module")
def prometheus_api(expect, hostvars):
    prometheus = inventory_hosts("prometheus")[0]
    scheme = "https" if expect["tls"] else "http"
    # UTF-8, as Prometheus' Go clients send it (requests would encode a str as Latin-1).
    auth = (b"prometheus", scrape_password(hostvars).encode("utf-8")) if expect["auth"] else None
    prefix = expect.get("prefix", {}).get("prometheus", "")
    return f"{scheme}://{container_ip(prometheus)}:9090{prefix}/api/v1", auth


# --- without the binary -------------------------------------------------------------------------

def test_grafana_ini_key_by_key(host, hostvars, expect):
    config = ini(host)
    expected = {
        ("server", "protocol"): "https" if expect["tls"] else "http",
        ("server", "http_port"): "3000",
        ("server", "domain"): host.backend.host,
        ("security", "admin_user"): "admin",
        ("security", "admin_password"): "$__file{/etc/grafana/secrets/admin_password}",
        ("security", "secret_key"): "$__file{/etc/grafana/secrets/secret_key}",
        ("security", "cookie_secure"): "true" if expect["tls"] else "false",
        ("security", "cookie_samesite"): "lax",
        ("security", "disable_gravatar"): "true",
        ("security", "allow_embedding"): "false",
        ("security", "content_security_policy"): "true",
        ("users", "allow_sign_up"): "false",
        ("auth.anonymous", "enabled"): "false",
        ("auth.basic", "enabled"): "true",
        ("database", "type"): "sqlite3",
        ("analytics", "reporting_enabled"): "false",
        ("analytics", "check_for_updates"): "false",
        ("log", "mode"): "console",
        ("paths", "provisioning"): "/etc/grafana/provisioning",
        # A value with '#' and ';' stays whole: Grafana reads triple-quoted values verbatim.
        ("smtp", "from_name"): '"""Monitoring #ops; on-call"""',
        ("smtp", "password"): "$__file{/etc/grafana/secrets/smtp_password}",
    }
    actual = {key: config.get(*key, fallback=None) for key in expected}
    assert actual == expected
    if expect["tls"]:
        assert config.get("server", "cert_file") == "/etc/grafana/tls/server.crt"
        assert config.get("server", "cert_key") == "/etc/grafana/tls/server.key"
    if expect["auth"]:
        assert config.get("metrics", "basic_auth_username") == "prometheus"


def test_secrets_in_files_only(host, hostvars):
    text = host.check_output("cat /etc/grafana/grafana.ini /etc/grafana/provisioning/dashboards/*.yml")
    for name, value in (("admin_password", hostvars["grafana_admin_password"]), ("secret_key", hostvars["grafana_secret_key"]),
                        ("smtp_password", hostvars["grafana_smtp"]["password"])):
        assert value not in text
        secret = host.file(f"/etc/grafana/secrets/{name}")
        assert (secret.user, secret.group, secret.mode) == ("root", "grafana", 0o640)
        assert host.check_output(f"cat /etc/grafana/secrets/{name}") == value


def test_permissions(host):
    for path, mode in (("/etc/grafana/grafana.ini", 0o640), ("/etc/grafana/provisioning/datasources/monitoring.yml", 0o640),
                       ("/etc/grafana", 0o750), ("/etc/grafana/secrets", 0o750)):
        item = host.file(path)
        assert (item.user, item.group, item.mode) == ("root", "grafana", mode), path
    assert host.file("/var/lib/grafana").user == "grafana"


def test_datasource_provisioning(host, hostvars, expect):
    doc = provisioning(host, "datasources/monitoring.yml")
    prometheus = inventory_hosts("prometheus")[0]
    by_name = {d["name"]: d for d in doc["datasources"]}
    ds = by_name["Prometheus"]
    scheme = "https" if expect["tls"] else "http"
    prefix = expect.get("prefix", {})
    assert (ds["type"], ds["uid"], ds["url"], ds["isDefault"]) == (
        "prometheus", "prometheus", f"{scheme}://{prometheus}:9090{prefix.get('prometheus', '')}", True)
    assert ds["jsonData"]["timeInterval"] == hostvars["prometheus_scrape_interval"]
    if expect["tls"]:
        assert ds["jsonData"]["tlsAuthWithCACert"] is True
        assert ds["secureJsonData"]["tlsCACert"].strip() == Path(scenario_ca()).read_text().strip()
    if expect["auth"]:
        assert (ds["basicAuth"], ds["basicAuthUser"]) == (True, "prometheus")
        # Grafana expands $ in provisioning files: a literal one is written as $$.
        assert ds["secureJsonData"]["basicAuthPassword"] == scrape_password(hostvars).replace("$", "$$")
    else:
        assert "basicAuth" not in ds
    alertmanagers = inventory_hosts("alertmanager", required=False)
    if alertmanagers:
        assert by_name["Alertmanager"]["url"] == f"{scheme}://{alertmanagers[0]}:9093{prefix.get('alertmanager', '')}"
    else:
        assert "Alertmanager" not in by_name
    # What the side effect added and then dropped is deleted from Grafana, not left behind.
    assert {"name": "Removed later", "orgId": 1} in doc["deleteDatasources"]
    assert "Removed later" not in by_name


def _without_log_links(board):
    """The dashboard as the repository has it, and how many panels link to the logs."""
    linked = 0
    for panel in board.get("panels") or []:
        links = panel.get("fieldConfig", {}).get("defaults", {}).pop("links", None)
        linked += bool(links and links[0]["title"] == "Logs of ${__field.labels.job}")
    return board, linked


def test_dashboards_on_disk_match_the_repository(host, hostvars):
    """The shipped dashboards, the operator's own (grafana_dashboards_extra_dirs) next to them, and with
    grafana_log_search_url every application panel linking to the logs."""
    provider = provisioning(host, "dashboards/monitoring.yml")["providers"][0]
    assert provider["options"] == {"path": "/var/lib/grafana/dashboards", "foldersFromFilesStructure": True}
    assert provider["disableDeletion"] is False
    on_host = host.check_output("cd /var/lib/grafana/dashboards && find . -type f | sort").split()
    expected = repo_dashboards()
    for extra in hostvars.get("grafana_dashboards_extra_dirs") or []:
        expected.update({p.relative_to(extra).as_posix(): json.loads(p.read_text()) for p in Path(extra).rglob("*.json")})
    assert [p[2:] for p in on_host] == sorted(expected)
    for path, content in expected.items():
        board, linked = _without_log_links(json.loads(host.check_output(f"cat /var/lib/grafana/dashboards/{path}")))
        assert board == content, path
        with_targets = [p for p in content.get("panels", []) if p.get("targets")]
        wanted = len(with_targets) if hostvars.get("grafana_log_search_url") and path.startswith("Applications/") else 0
        assert linked == wanted, path
    uids = [d["uid"] for d in expected.values()]
    assert len(uids) == len(set(uids))


def test_dashboard_queries_parse_on_a_live_prometheus(prometheus_api, ca):
    """Every query of every dashboard is one this Prometheus accepts; molecule/stack, exporters and ha prove
    that each returns data (they run what the panels watch)."""
    api, auth = prometheus_api
    for where, expr in dashboard_queries(["*/*.json"]):
        dashboard_result(api, auth, ca, where, expr)


def test_unit_hardened(host, capsys):
    unit = host.check_output("systemctl cat grafana")
    assert "--homepath=/opt/grafana/current" in unit and "--config=/etc/grafana/grafana.ini" in unit
    assert_hardened(host, "grafana.service", capsys)


def test_secrets_absent_from_logs(hostvars):
    text = run_logs()
    secrets = {name: hostvars[name] for name in ("grafana_admin_password", "grafana_secret_key") if name in hostvars}
    secrets["test_scrape_password"] = scrape_password(hostvars)
    secrets["grafana_smtp.password"] = hostvars["grafana_smtp"]["password"]
    for name, secret in secrets.items():
        if secret:
            assert secret not in text, name


# --- with a running Grafana ---------------------------------------------------------------------

@needs_grafana
def test_health(grafana, ca):
    answer = get(f"{grafana}/api/health", ca=ca)
    assert answer.status_code == 200 and answer.json()["database"] == "ok"


@needs_grafana
def test_admin_login(grafana, ca, admin):
    assert get(f"{grafana}/api/user", auth=admin, ca=ca).json()["login"] == "admin"
    assert get(f"{grafana}/api/user", auth=("admin", admin[1] + "-wrong"), ca=ca).status_code == 401


@needs_grafana
def test_anonymous_refused(grafana, ca):
    assert get(f"{grafana}/api/search", ca=ca).status_code == 401
    assert get(f"{grafana}/api/datasources", ca=ca).status_code == 401


@needs_grafana
def test_datasources_healthy(grafana, ca, admin):
    answer = get(f"{grafana}/api/datasources/uid/prometheus/health", auth=admin, ca=ca).json()
    assert answer["status"] == "OK", answer
    names = {d["name"] for d in get(f"{grafana}/api/datasources", auth=admin, ca=ca).json()}
    assert "Prometheus" in names and "Removed later" not in names


@needs_grafana
def test_every_dashboard_present(grafana, ca, admin, hostvars):
    found = {d["uid"]: d.get("folderTitle", "") for d in get(f"{grafana}/api/search?type=dash-db", auth=admin, ca=ca).json()}
    expected = {d["uid"]: path.split("/")[0] for path, d in repo_dashboards().items()}
    for extra in hostvars.get("grafana_dashboards_extra_dirs") or []:
        expected.update({json.loads(p.read_text())["uid"]: p.parent.name for p in Path(extra).rglob("*.json")})
    assert found == expected


@needs_grafana
def test_service_exposure(host, capsys):
    assert host.service("grafana").is_running
    assert_hardened(host, "grafana.service", capsys)
