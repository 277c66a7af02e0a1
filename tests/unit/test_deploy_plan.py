"""The shared role's deploy plan, outcome and input checks, and node_exporter's filters (controller-side Python)."""
import http.server
import json
import threading

import pytest
from monitoring_common import (monitoring_common_problems, monitoring_deploy_plan,
                               monitoring_health_spec)
from monitoring_http import check_health
from node_exporter import node_exporter_collector_flags, node_exporter_problems


def inputs(**overrides):
    spec = {"name": "app", "install": True, "binaries": ["app", "apptool"], "version_dir": "/opt/app/1.0",
            "current_link": "/opt/app/current", "bin_dir": "/usr/local/bin", "keep_versions": 2, "account": True,
            "user": "app", "group": "app", "home": "/nonexistent", "config_dir": "/etc/app", "tls_cert_src": "",
            "tls_key_src": "", "tls_ca_src": "", "tls_triggers": [], "web_config": True,
            "web_config_file": "/etc/app/web-config.yml", "web_config_validate": "",
            "web": {"tls_dir": "/etc/app/tls", "tls": False, "min_version": "TLS12",
                    "headers": {"X-Frame-Options": "deny"}, "users": {}, "current": "", "cost": 4},
            "files": [{"path": "/etc/app/app.yml", "content": "a: 1\n"}], "secret_files": [], "prune": [{"path": "/etc/app/rules"}],
            "unit": {"description": "App", "documentation": "", "exec": "/usr/local/bin/app", "args": ["--flag=1"],
                     "reloadable": True, "read_write_paths": [], "hardening_base": {"NoNewPrivileges": "yes"},
                     "hardening": {}, "dropin_for": ""},
            "service_start": True,
            "health": {"listen_address": "0.0.0.0:9100", "host": "", "path": "/metrics", "metrics_path": "/metrics",
                       "status": 200, "retries": 3, "user": "", "password": "", "reload_metric": ""}}
    spec.update(overrides)
    return spec


def paths(entries):
    return [e["path"] for e in entries]


def test_plan_orders_release_before_component_files_and_unit():
    plan = monitoring_deploy_plan(inputs())
    assert paths(plan["entries"]) == ["/etc/app", "/opt/app/1.0", "/opt/app/current", "/usr/local/bin/app",
                                      "/usr/local/bin/apptool", "/etc/app/web-config.yml", "/etc/app/app.yml",
                                      "/etc/systemd/system/app.service"]
    # The release counts as installed by its marker; the archive waits in a root-only directory, not /var/tmp.
    assert plan["release"] == "/opt/app/1.0/.monitoring-release"
    assert plan["unpack"] == {"archive": "/var/lib/monitoring-stack/releases/app-1.0.tar.gz", "dest": "/opt/app/1.0",
                              "sha256": None}
    assert monitoring_deploy_plan(inputs(release_sha256="ab" * 32))["unpack"]["sha256"] == "ab" * 32
    assert monitoring_deploy_plan(inputs(version_probe=["--version"]))["unpack"]["probe"] == ["app", "--version"]
    assert "probe" not in monitoring_deploy_plan(inputs(version_probe=[]))["unpack"]
    assert plan["versions"] == {"root": "/opt/app", "link": "/opt/app/current", "keep": 2}
    assert not [e for e in plan["secret_entries"] if "content" in e]
    assert plan["health"]["url"] == "http://127.0.0.1:9100/metrics"


def test_secrets_are_masked_entries_and_stay_when_pruning(tmp_path):
    key = tmp_path / "host.key"
    key.write_text("KEY")
    plan = monitoring_deploy_plan(inputs(tls_key_src=str(key), web=dict(inputs()["web"], users={"prometheus": "pw"}),
                                         secret_files=[{"path": "/etc/app/secrets/token", "content": "t"}]))
    secret = {e["path"]: e for e in plan["secret_entries"]}
    assert secret["/etc/app/tls/server.key"]["content"] == "KEY" and secret["/etc/app/tls/server.key"]["diff"] is False
    assert "/etc/app/web-config.yml" in secret and "/etc/app/web-config.yml" not in paths(plan["entries"])
    assert "pw" not in str(plan["entries"])
    assert set(plan["prune"][0]["keep"]) == {"/etc/app/tls/server.key", "/etc/app/web-config.yml", "/etc/app/secrets/token"}
    assert plan["health"]["user"] == "prometheus" and plan["health"]["password"] == "pw"


def test_tls_files_and_https_health(tmp_path):
    cert, ca = tmp_path / "c.crt", tmp_path / "ca.crt"
    cert.write_text("CERT")
    ca.write_text("CA")
    plan = monitoring_deploy_plan(inputs(tls_cert_src=str(cert), tls_ca_src=str(ca), tls_triggers=["restart"],
                                         web=dict(inputs()["web"], tls=True)))
    files = {e["path"]: e for e in plan["entries"]}
    assert files["/etc/app/tls/server.crt"]["content"] == "CERT" and files["/etc/app/tls/server.crt"]["triggers"] == ["restart"]
    assert files["/etc/app/tls"]["state"] == "directory"
    assert plan["health"]["url"].startswith("https://") and plan["health"]["ca_path"] == "/etc/app/tls/ca.crt"


def test_packaged_service_gets_a_dropin_and_no_release():
    plan = monitoring_deploy_plan(inputs(install=False, account=False, web_config=False,
                                         unit=dict(inputs()["unit"], dropin_for="app-server")))
    assert paths(plan["entries"]) == ["/etc/app", "/etc/app/app.yml", "/etc/systemd/system/app-server.service.d",
                                      "/etc/systemd/system/app-server.service.d/10-hardening.conf"]
    assert plan["release"] is None and plan["account"] is None and plan["service"]["name"] == "app-server"


def test_secret_environment_is_a_root_only_file_the_unit_reads():
    plan = monitoring_deploy_plan(inputs(secret_environment={"REDIS_PASSWORD": 'a$b"c\\d`e ü'}))
    secret = {e["path"]: e for e in plan["secret_entries"]}["/etc/app/environment"]
    assert (secret["owner"], secret["group"], secret["mode"], secret["diff"]) == ("root", "root", "0600", False)
    assert secret["content"] == 'REDIS_PASSWORD="a\\$b\\"c\\\\d\\`e ü"\n' and secret["triggers"] == ["restart"]
    unit = {e["path"]: e for e in plan["entries"]}["/etc/systemd/system/app.service"]["content"]
    assert "EnvironmentFile=/etc/app/environment\n" in unit and "a$b" not in unit
    assert "EnvironmentFile" not in {e["path"]: e for e in monitoring_deploy_plan(inputs())["entries"]}[
        "/etc/systemd/system/app.service"]["content"]
    with pytest.raises(Exception, match="secret environment 'PW'"):
        monitoring_deploy_plan(inputs(secret_environment={"PW": "line\nbreak"}))
    # Without secret variables (the Redis password removed) the file leaves the host, with a restart.
    gone = {e["path"]: e for e in monitoring_deploy_plan(inputs())["secret_entries"]}["/etc/app/environment"]
    assert (gone["state"], gone["triggers"]) == ("absent", ["restart"])


def test_health_spec_for_ipv6_and_a_named_host():
    assert monitoring_health_spec({"listen_address": "[::]:9093", "path": "/-/ready"})["url"] == "http://[::1]:9093/-/ready"
    assert monitoring_health_spec({"listen_address": "0.0.0.0:3000", "host": "grafana.example", "tls": True,
                                   "path": "/api/health"})["url"] == "https://grafana.example:3000/api/health"


@pytest.mark.parametrize("spec, message", [
    ({"version": "latest"}, "node_exporter_version 'latest' is not a release version"),
    ({"listen_addresses": ["localhost"]}, "'localhost' is not host:port"),
    ({"listen_addresses": [":99999"]}, "port from 1 to 65535"),
    ({"tls_enabled": "true", "cert": "/nonexistent", "key": "/nonexistent"}, "node_exporter_tls_enabled is true"),
    ({"users": {"prometheus": ""}}, "user(s) prometheus have no password"),
])
def test_shared_input_problems(spec, message):
    base = {"name": "node_exporter", "version": "1.11.1", "listen_addresses": ["0.0.0.0:9100"], "tls_enabled": False,
            "cert": "", "key": "", "ca": "", "users": {}}
    assert monitoring_common_problems(base) == []
    assert any(message in p for p in monitoring_common_problems(dict(base, **spec)))


def test_collector_flags():
    flags = node_exporter_collector_flags({"systemd": {"unit-include": "a|b"}, "textfile": {"directory": "/x"},
                                           "netdev": {"address-info": True, "device-exclude": ["lo", "veth"]}}, ["wifi"])
    assert flags == ["--collector.systemd", "--collector.systemd.unit-include=a|b", "--collector.textfile",
                     "--collector.textfile.directory=/x", "--collector.netdev", "--collector.netdev.address-info",
                     "--collector.netdev.device-exclude=lo", "--collector.netdev.device-exclude=veth", "--no-collector.wifi"]


def test_collector_problems():
    known = ["systemd", "wifi", "textfile"]
    assert node_exporter_problems({"listen_addresses": [":9100"], "collectors": {"systemd": {}}, "disabled": []}, known) == []
    assert "unknown collector(s) bogus" in node_exporter_problems(
        {"listen_addresses": [":9100"], "collectors": {"bogus": {}}, "disabled": []}, known)[0]
    assert "both in" in node_exporter_problems({"listen_addresses": [":9100"], "collectors": {"wifi": {}}, "disabled": ["wifi"]}, known)[0]
    assert "is empty" in node_exporter_problems({"listen_addresses": [], "collectors": {}, "disabled": []}, known)[0]


class Handler(http.server.BaseHTTPRequestHandler):
    body = b"prometheus_config_last_reload_successful 1\nprometheus_config_last_reload_success_timestamp_seconds 1.7e9\n"
    # Alertmanager's /api/v2/status: settling with one member for the first two answers, then ready with two.
    status_answers = []

    def do_GET(self):  # noqa: N802
        ok = self.headers.get("Authorization") == "Basic dTpw"  # u:p
        self.send_response(200 if ok else 401)
        self.end_headers()
        if ok and self.path == "/api/v2/status":
            self.status_answers.append(self.path)
            settled = len(self.status_answers) > 2
            peers = [{"name": "a"}, {"name": "b"}] if settled else [{"name": "a"}]
            self.wfile.write(json.dumps({"cluster": {"status": "ready" if settled else "settling", "peers": peers}}).encode())
            return
        if ok and self.path.startswith("/api/v1/targets"):
            # as a restarted Prometheus: no targets before discovery, then targets not scraped yet, then scraped
            self.status_answers.append(self.path)
            seen = len(self.status_answers)
            targets = [] if seen < 2 else [{"health": "up" if seen > 3 else "unknown"}, {"health": "down"}]
            self.wfile.write(json.dumps({"status": "success", "data": {"activeTargets": targets}}).encode())
            return
        self.wfile.write(self.body if ok else b"")

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}"
    httpd.shutdown()


def test_health_check_over_http(server):
    spec = {"url": f"{server}/-/ready", "metrics_url": f"{server}/metrics", "user": "u", "password": "p", "retries": 2, "delay": 0.01}
    assert check_health(dict(spec, reload_metric="prometheus_config_last_reload"))[0]
    ok, msg, status, attempts = check_health(dict(spec, password="wrong"))
    assert not ok and status == 401 and attempts == 2 and "HTTP 401" in msg
    ok, msg, _, _ = check_health(dict(spec, reload_metric="prometheus_config_last_reload", reloaded_since=2e9))
    assert not ok and "not the one loaded" in msg


def test_health_waits_until_the_cluster_has_settled_with_every_member(server):
    Handler.status_answers.clear()
    spec = {"url": f"{server}/-/ready", "user": "u", "password": "p", "retries": 5, "delay": 0.01,
            "cluster_url": f"{server}/api/v2/status", "cluster_peers": 2}
    ok, msg, _, attempts = check_health(spec)
    assert ok and len(Handler.status_answers) == 3 and attempts == 4, msg
    ok, msg, _, _ = check_health(dict(spec, cluster_peers=3, retries=2))
    assert not ok and "has not formed with 3 members" in msg and "['a', 'b']" in msg
    assert monitoring_health_spec({"listen_address": "0.0.0.0:9093", "cluster_path": "/am/api/v2/status",
                                   "cluster_peers": "3"})["cluster_url"] == "http://127.0.0.1:9093/am/api/v2/status"


def test_health_waits_until_a_restarted_prometheus_has_scraped_every_target(server):
    """Ready is not scraping: the next HA replica may restart only once this one has scraped each target again."""
    Handler.status_answers.clear()
    spec = {"url": f"{server}/-/ready", "user": "u", "password": "p", "retries": 6, "delay": 0.01,
            "targets_url": f"{server}/api/v1/targets?state=active", "targets_min": 2}
    ok, msg, _, attempts = check_health(spec)
    assert ok and len(Handler.status_answers) == 4 and attempts == 5, msg  # empty, unknown, unknown, scraped
    Handler.status_answers.clear()
    ok, msg, _, _ = check_health(dict(spec, targets_min=3))
    assert not ok and "has not scraped its 3 targets" in msg and "2 active targets, 0 not scraped" in msg
    assert monitoring_health_spec({"listen_address": "0.0.0.0:9090", "targets_path": "/p/api/v1/targets?state=active",
                                   "targets_min": "4"})["targets_url"] == "http://127.0.0.1:9090/p/api/v1/targets?state=active"


def test_single_user_daemons_take_the_clients_user_else_the_first():
    from monitoring_endpoints import monitoring_single_user
    users = {"admin": "a", "prometheus": "p"}
    assert monitoring_single_user(users, "prometheus") == {"prometheus": "p"}
    assert monitoring_single_user(users, "nobody") == {"admin": "a"} and monitoring_single_user({}, "x") == {}
