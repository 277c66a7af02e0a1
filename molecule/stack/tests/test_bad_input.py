"""Bad input: each case runs site.yml on the converged stack with one wrong setting. It must fail
with a message that names the variable (and the fix), and no host may change: files below the
components' directories and units, installed versions and service PIDs are compared before and after.
No output may contain a secret: neither the stack's vault values nor any secret the case itself gave."""
import json
import os
import re
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from monitoring_testlib import inventory_hosts, run_playbook

ROOT = os.environ["MONITORING_ROOT"]
SNAPSHOT = r"""
find /etc/node_exporter /etc/prometheus /etc/alertmanager /etc/grafana /etc/amtool /etc/systemd/system \
     /opt /var/lib/grafana/dashboards /usr/local/bin -xdev \( -type f -o -type l \) \
     -printf '%p %l %s %T@\n' 2>/dev/null | sort
systemctl show -p MainPID -p ActiveState node_exporter prometheus alertmanager grafana
"""

# Controller files some cases point at: a scrape config fragment whose job clashes with prometheus.yml, and
# dashboards that share a uid.
FILES = os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "bad-input")
os.makedirs(os.path.join(FILES, "dashboards/Team"), exist_ok=True)
with open(os.path.join(FILES, "fragment.yml"), "w") as fh:
    fh.write("scrape_configs:\n  - job_name: node\n    static_configs: [{targets: ['x:1']}]\n")
for name in ("a", "b"):
    with open(os.path.join(FILES, f"dashboards/Team/{name}.json"), "w") as fh:
        json.dump({"uid": "same-uid", "title": name, "panels": []}, fh)

LONG = "Long-password-" + "x" * 59  # 73 bytes
NEWLINE = "--log.level=info\nExecStartPre=/bin/touch /tmp/injected"
HOOK = "https://hooks.slack.com/services/T0/B0/Case-slack-secret-77"

# (id, --limit, extra vars, text the failure must contain)
CASES = [
    # stack-wide
    ("tls-cert-missing", "node_exporter", {"monitoring_tls_cert_file": "/nonexistent/host.crt"},
     "node_exporter_tls_cert_file"),
    ("password-missing", "node_exporter", {"monitoring_basic_auth_users": {"prometheus": ""}}, "have no password"),
    ("tls-on-without-cert", "prometheus", {"prometheus_tls_cert_file": ""}, "prometheus_tls_enabled is true: set prometheus_tls_cert_file"),
    # node_exporter
    ("listen-no-port", "node_exporter", {"node_exporter_listen_addresses": ["localhost"]}, "is not host:port"),
    ("listen-port-range", "node_exporter", {"node_exporter_listen_addresses": ["0.0.0.0:99999"]}, "port from 1 to 65535"),
    ("listen-empty", "node_exporter", {"node_exporter_listen_addresses": []}, "node_exporter_listen_addresses is empty"),
    ("reboot-interval", "node_exporter", {"node_exporter_reboot_required_interval": "five minutes"},
     "node_exporter_reboot_required_interval 'five minutes' is not a systemd time span"),
    ("client-ca-removed", "node_exporter", {"node_exporter_tls_client_ca_file": "/etc/ssl/ca.crt"},
     "node_exporter_tls_client_ca_file was removed"),
    ("reboot-interval-zero", "node_exporter", {"node_exporter_reboot_required_interval": "0"},
     "node_exporter_reboot_required_interval '0' must be longer than 0"),
    ("unknown-collector", "node_exporter", {"node_exporter_collectors": {"bogus": True}}, "unknown collector(s) bogus"),
    ("unknown-disabled-collector", "node_exporter", {"node_exporter_collectors_disabled": ["nope"]}, "unknown collector(s) nope"),
    ("collectors-wrong-type", "node_exporter", {"node_exporter_collectors": "systemd"}, "node_exporter_collectors"),
    ("version-not-release", "node_exporter", {"node_exporter_version": "latest"}, "node_exporter_version 'latest' is not a release"),
    ("version-not-in-mirror", "node_exporter", {"node_exporter_version": "1.99.0"}, "node_exporter-1.99.0.linux-amd64.tar.gz"),
    # prometheus
    ("retention-unit", "prometheus", {"prometheus_retention_time": "10x"}, "prometheus_retention_time '10x' is not a duration"),
    ("retention-size", "prometheus", {"prometheus_retention_size": "lots"}, "prometheus_retention_size 'lots' is not a size"),
    ("scrape-interval", "prometheus", {"prometheus_scrape_interval": "fast"}, "must be durations such as 15s"),
    ("timeout-over-interval", "prometheus", {"prometheus_scrape_interval": "5s", "prometheus_scrape_timeout": "10s"},
     "prometheus_scrape_timeout (10s) is longer than prometheus_scrape_interval"),
    ("listen-address", "prometheus", {"prometheus_listen_address": "9090"}, "prometheus_listen_address(es): '9090'"),
    ("job-without-targets", "prometheus", {"prometheus_scrape_jobs": [{"name": "orders"}]}, "prometheus_scrape_jobs entry orders"),
    ("threshold-unknown", "prometheus", {"prometheus_alert_thresholds": {"api_eror_ratio": 0.1}},
     "prometheus_alert_thresholds: no rule file has the thresholds api_eror_ratio"),
    ("rule-group-unknown", "prometheus", {"prometheus_rule_groups_disabled": ["bussiness_alerts"]},
     "prometheus_rule_groups_disabled: no rule file has the groups bussiness_alerts"),
    ("job-profile-unknown", "prometheus", {"prometheus_scrape_jobs": [{"name": "shop", "targets": ["a:1"], "profile": "promclient"}]},
     "prometheus_scrape_jobs entry shop: profile promclient is not known"),
    ("app-profile-reserved", "prometheus", {"prometheus_app_profiles": {"auto": {
        "requests": "r", "duration": "d", "duration_unit": "s", "route_label": "route", "status_label": "code"}}},
     "prometheus_app_profiles.auto: auto is reserved"),
    ("app-profile-bad", "prometheus", {"prometheus_app_profiles": {"orders": {"requests": "r", "duration": "d", "duration_unit": "min",
                                                                             "route_label": "endpoint", "status_label": "status"}}},
     "prometheus_app_profiles.orders: duration_unit must be one of s, ms"),
    ("app-rate-window", "prometheus", {"prometheus_app_rate_window": "five minutes"}, "prometheus_app_rate_window 'five minutes' is not a duration"),
    # (a probe without a blackbox host: tests/unit, this stack has one)
    ("probe-without-module", "prometheus", {"prometheus_probes": [{"name": "shop", "targets": ["http://a/"]}]},
     "prometheus_probes entry shop: needs a module of blackbox_exporter_modules"),
    ("probe-url-without-host", "prometheus", {"prometheus_probes": [{"name": "shop", "module": "http_2xx", "group": "app",
                                                                    "url": "http://a/health"}]}, "group needs a url containing {host}"),
    ("duplicate-job", "prometheus", {"prometheus_scrape_jobs": [{"name": "node", "targets": ["a:1"]}]}, "duplicate scrape job names node"),
    ("job-unknown-key", "prometheus", {"prometheus_scrape_jobs": [{"name": "x", "targets": ["a:1"], "intervall": "5s"}]},
     "unknown keys: intervall"),
    ("job-empty-group", "prometheus", {"prometheus_scrape_jobs": [{"name": "x", "group": "nosuchgroup", "port": 1}]},
     "prometheus_scrape_jobs entry x"),
    ("external-url", "prometheus", {"prometheus_external_url": "prometheus.example.com"}, "prometheus_external_url"),
    ("remote-write-url", "prometheus", {"prometheus_remote_write": [{"name": "x"}]}, "every entry needs a url"),
    ("rules-dir-missing", "prometheus", {"prometheus_rules_dir": "/nonexistent/rules"}, "prometheus_rules_dir '/nonexistent/rules'"),
    ("labels-wrong-type", "prometheus", {"prometheus_external_labels": "production"}, "prometheus_external_labels"),
    ("prometheus-version-missing", "prometheus", {"prometheus_version": "3.99.0"}, "prometheus-3.99.0.linux-amd64.tar.gz"),
    ("client-user-missing", "prometheus", {"monitoring_alertmanager_user": "nobody"},
     "prometheus_alertmanager_user names a user stack-alertmanager's alertmanager_basic_auth_users lacks"),
    # alertmanager
    ("unknown-receiver-type", "alertmanager", {"alertmanager_receivers": [{"name": "x", "pigeon_configs": [{}]}]},
     "unknown receiver type(s) pigeon_configs"),
    ("watchdog-receiver-unknown", "alertmanager", {"alertmanager_watchdog_receiver": "deadman"},
     "alertmanager_watchdog_receiver: deadman is not in alertmanager_receivers"),
    ("route-unknown-receiver", "alertmanager", {"alertmanager_route": {"receiver": "nobody"}},
     "alertmanager_route: receiver(s) nobody are not in alertmanager_receivers"),
    ("receiver-without-name", "alertmanager", {"alertmanager_receivers": [{"webhook_configs": [{"url": "http://x"}]}]},
     "every receiver needs a name"),
    ("am-listen", "alertmanager", {"alertmanager_listen_address": "0.0.0.0:0"}, "alertmanager_listen_address(es)"),
    ("am-retention", "alertmanager", {"alertmanager_data_retention": "5d"}, "alertmanager_data_retention '5d'"),
    # grafana
    ("grafana-no-admin-password", "grafana", {"grafana_admin_password": ""}, "grafana_admin_password"),
    ("grafana-short-secret-key", "grafana", {"grafana_secret_key": "short"}, "grafana_secret_key (at least 16"),
    ("grafana-install-method", "grafana", {"grafana_install_method": "docker"}, "grafana_install_method"),
    ("grafana-log-url-placeholder", "grafana", {"grafana_log_search_url": "https://logs/?q={host}"},
     "grafana_log_search_url: unknown placeholders host"),
    ("grafana-extra-dashboards-dir", "grafana", {"grafana_dashboards_extra_dirs": ["/nonexistent/dashboards"]},
     "grafana_dashboards_extra_dirs: not a directory on the controller: /nonexistent/dashboards"),
    ("grafana-database-type", "grafana", {"grafana_database": {"type": "oracle"}}, "grafana_database: type must be"),
    ("grafana-postgres-no-host", "grafana", {"grafana_database": {"type": "postgres"}}, "postgres and mysql need host and password"),
    ("grafana-ini-clash", "grafana", {"grafana_ini_extra": {"security": {"admin_password": "x"}}},
     "grafana_ini_extra sets security.admin_password"),
    ("grafana-ini-secret-in-clear", "grafana", {"grafana_ini_extra": {"smtp": {"password": "Case-smtp-pw-7a1e"}}},
     "grafana_ini_extra sets smtp.password in clear"),
    ("grafana-plugin-no-version", "grafana", {"grafana_plugins": [{"name": "grafana-clock-panel"}]}, "grafana_plugins"),
    ("grafana-plugin-url-no-sha256", "grafana", {"grafana_plugins": [
        {"name": "grafana-clock-panel", "version": "2.1.8", "url": "http://mirror.example/clock.zip"}]},
     "grafana_plugins: grafana-clock-panel needs"),
    ("grafana-samesite", "grafana", {"grafana_cookie_samesite": "loose"}, "grafana_cookie_samesite"),
    ("grafana-port-type", "grafana", {"grafana_http_port": "http"}, "grafana_http_port"),
    ("grafana-dashboards-dir", "grafana", {"grafana_dashboards_dir": "/nonexistent"},
     "grafana_dashboards_dir / grafana_dashboards_extra_dirs: not a directory on the controller: /nonexistent"),
    # secrets in failing items: the message names the job or receiver, never its credentials
    ("job-secret-unknown-key", "prometheus", {"prometheus_scrape_jobs": [
        {"name": "orders", "targets": ["a:1"], "bearer_token": "Case-token-5b1c", "intervall": "5s"}]},
     "prometheus_scrape_jobs entry orders: unknown keys: intervall"),
    ("job-secret-both-auth", "prometheus", {"prometheus_scrape_jobs": [
        {"name": "orders", "targets": ["a:1"], "bearer_token": "Case-token-71ad",
         "basic_auth": {"username": "u", "password": "Case-password-0e3f"}}]}, "basic_auth or bearer_token, not both"),
    ("job-secret-empty-group", "prometheus", {"prometheus_scrape_jobs": [
        {"name": "orders", "group": "nosuch", "port": 1, "basic_auth": {"username": "u", "password": "Case-password-93c2"}}]},
     "inventory group nosuch has no hosts"),
    ("job-secret-not-mapping", "prometheus", {"prometheus_scrape_jobs": ["Case-token-as-job-4411"]},
     "Elements value for option 'prometheus_scrape_jobs' is of type str"),
    ("receiver-secret-unknown-type", "alertmanager", {"alertmanager_receivers": [
        {"name": "x", "pigeon_configs": [{"api_url": HOOK}]}]}, "unknown receiver type(s) pigeon_configs"),
    ("receiver-secret-duplicate", "alertmanager", {"alertmanager_receivers": [
        {"name": "x", "slack_configs": [{"api_url": HOOK}]}, {"name": "x"}]}, "names must be unique"),
    ("datasource-secret-no-name", "grafana", {"grafana_datasources": [
        {"type": "prometheus", "url": "http://x", "secureJsonData": {"basicAuthPassword": "Case-password-ds-5d"}}]},
     "grafana_datasources: every datasource needs a name and a type (entries 1 lack one)"),
    # line breaks in flags
    ("newline-node-flag", "node_exporter", {"node_exporter_extra_flags": [NEWLINE]}, "node_exporter_extra_flags: flag(s)"),
    ("newline-prometheus-flag", "prometheus", {"prometheus_extra_flags": [NEWLINE]}, "prometheus_extra_flags: flag(s)"),
    ("newline-alertmanager-flag", "alertmanager", {"alertmanager_extra_flags": [NEWLINE]}, "alertmanager_extra_flags: flag(s)"),
    ("newline-in-a-path", "prometheus", {"prometheus_data_dir": "/var/lib/prometheus\nExecStartPre=/bin/true"},
     "the value of flag(s) --storage.tsdb.path contains a line break"),
    # names that become file names
    ("rules-path-traversal", "prometheus", {"prometheus_rules": {"../../etc/cron.d/evil": {"groups": []}}},
     "prometheus_rules: '../../etc/cron.d/evil' cannot be used as a file name"),
    ("rules-empty-name", "prometheus", {"prometheus_rules": {"": {"groups": []}}}, "prometheus_rules: '' cannot be used"),
    ("template-path-traversal", "alertmanager", {"alertmanager_templates": {"../evil": "plain text"}},
     "alertmanager_templates: '../evil' cannot be used as a file name"),
    ("receiver-name-slash", "alertmanager", {"alertmanager_receivers": [{"name": "team/ops"}],
                                             "alertmanager_route": {"receiver": "team/ops"}},
     "alertmanager_receivers: 'team/ops' cannot be used as a file name"),
    ("job-name-slash", "prometheus", {"prometheus_scrape_jobs": [{"name": "../jobs", "targets": ["a:1"]}]},
     "prometheus_scrape_jobs: '../jobs' cannot be used as a file name"),
    ("plugin-path-traversal", "grafana", {"grafana_plugins": [{"name": "../../bin", "version": "1.0.0"}]},
     "grafana_plugins: '../../bin' cannot be used as a file name"),
    # passwords bcrypt cannot hash
    ("password-73-bytes", "node_exporter", {"monitoring_basic_auth_users": {"prometheus": LONG}}, "longer than 72 bytes"),
    ("password-73-bytes-alertmanager", "alertmanager", {"alertmanager_basic_auth_users": {"amtool": LONG}},
     "alertmanager_basic_auth_users (or monitoring_basic_auth_users): the password(s) of amtool are longer than 72 bytes"),
    ("password-73-bytes-multibyte", "prometheus", {"prometheus_basic_auth_users": {"prometheus": "ü" * 37}},
     "prometheus_basic_auth_users (or monitoring_basic_auth_users): the password(s) of prometheus are longer"),
    # placeholders of vault.yml.example
    ("placeholder-vault-value", "node_exporter", {"vault_monitoring_scrape_password": "change-me-scrape-password"},
     "vault_monitoring_scrape_password still hold the placeholder of vault.yml.example"),
    ("placeholder-grafana-admin", "grafana", {"vault_grafana_admin_password": "change-me-grafana-admin"},
     "vault_grafana_admin_password still hold the placeholder"),
    # hardening keys systemd would ignore
    ("hardening-unknown-node", "node_exporter", {"node_exporter_unit_hardening": {"ProtectSytem": "strict"}},
     "node_exporter_unit_hardening: unknown systemd directive(s) ProtectSytem"),
    ("hardening-unknown-prometheus", "prometheus", {"prometheus_unit_hardening": {"NoNewPrivilege": "yes"}},
     "prometheus_unit_hardening: unknown systemd directive(s) NoNewPrivilege"),
    ("hardening-unknown-alertmanager", "alertmanager", {"alertmanager_unit_hardening": {"PrivateTemp": "yes"}},
     "alertmanager_unit_hardening: unknown systemd directive(s) PrivateTemp"),
    ("hardening-unknown-grafana", "grafana", {"grafana_unit_hardening": {"ReadWritePath": "/srv"}},
     "grafana_unit_hardening: unknown systemd directive(s) ReadWritePath"),
    # two components on one port of a host (the Prometheus host runs node_exporter on 9100)
    ("port-conflict", "prometheus", {"prometheus_listen_address": "0.0.0.0:9100"},
     "port 9100 is taken twice on this host: node_exporter (node_exporter_listen_addresses) and prometheus"),
    ("port-conflict-grafana", "grafana", {"grafana_http_port": 9100}, "port 9100 is taken twice on this host"),
    # duplicates
    ("duplicate-datasource", "grafana", {"grafana_datasources": [{"name": "Loki", "type": "loki", "url": "http://l"},
                                                                  {"name": "Loki", "type": "loki", "url": "http://m"}]},
     "datasource names appear twice"),
    ("duplicate-dashboard-uid", "grafana", {"grafana_dashboards_dir": os.path.join(FILES, "dashboards")},
     "uid same-uid appears twice (Team/a.json, Team/b.json)"),
    # certificate and key that do not belong together
    ("cert-key-mismatch", "node_exporter", {"monitoring_tls_cert_file": "{{ monitoring_pki_dir }}/hosts/stack-app.crt"},
     "node_exporter_tls_cert_file and node_exporter_tls_key_file do not belong together"),
    # a fragment whose job clashes with prometheus.yml
    ("fragment-job-clash", "prometheus", {"prometheus_scrape_config_files": [os.path.join(FILES, "fragment.yml")]},
     "duplicate scrape job names node"),
    # durations
    ("route-duration", "alertmanager", {"alertmanager_route": {"receiver": "webhook", "group_wait": "5 minutes"}},
     "alertmanager_route.group_wait '5 minutes' is not a duration"),
    ("child-route-duration", "alertmanager", {"alertmanager_route": {
        "receiver": "webhook", "routes": [{"receiver": "webhook", "repeat_interval": "daily"}]}},
     "alertmanager_route.routes[0].repeat_interval 'daily' is not a duration"),
    ("job-duration", "prometheus", {"prometheus_scrape_jobs": [{"name": "x", "targets": ["a:1"], "scrape_interval": "often"}]},
     "prometheus_scrape_jobs entry x: scrape_interval must be a duration"),
]
SECRET_KEYS = re.compile(r"password|token|secret|api_url|webhook|credentials|key$", re.I)


def secrets_of(value, key=""):
    """String values below keys that name secrets (and whole strings given where a job belongs)."""
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in secrets_of(v, str(k))]
    if isinstance(value, list):
        return [s for v in value for s in secrets_of(v, key)]
    text = str(value)
    return [text] if (SECRET_KEYS.search(key) or text.startswith("Case-")) and "change-me" not in text else []


def snapshot():
    state = {}
    for name in inventory_hosts("all"):
        proc = subprocess.run(["docker", "exec", name, "sh", "-c", SNAPSHOT], capture_output=True, text=True, check=True)
        state[name] = proc.stdout
    return state


def site(limit, extra):
    """site.yml with one bad setting (extra vars win over the inventory); the certificates play is
    skipped: it changes nothing on the hosts and the matrix is about input checks."""
    with tempfile.TemporaryDirectory() as tmp:
        extra_file = os.path.join(tmp, "extra.json")
        with open(extra_file, "w") as fh:
            json.dump(extra, fh)
        return run_playbook(f"{ROOT}/site.yml", "--limit", limit, "--skip-tags", "pki", "-e", f"@{extra_file}")


@pytest.fixture(scope="module")
def matrix():
    """Host state before, every case's (exit code, output) run three at a time, host state after."""
    before = snapshot()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip([c[0] for c in CASES], pool.map(lambda case: site(case[1], case[2]), CASES)))
    return before, results, snapshot()


def test_enough_cases():
    assert len(CASES) >= 70 and len({c[0] for c in CASES}) == len(CASES)


@pytest.mark.parametrize("case, message", [(c[0], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_with_a_message(case, message, matrix):
    returncode, output = matrix[1][case]
    assert returncode != 0, output[-3000:]
    assert message in " ".join(output.split()), output[-3000:]


def test_no_host_changed(matrix):
    before, _, after = matrix
    assert after == before


@pytest.fixture(scope="module")
def stack_secrets():
    import testinfra.utils.ansible_runner
    inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    variables = testinfra.utils.ansible_runner.AnsibleRunner(inventory).get_variables("stack-prometheus")
    return [str(v) for k, v in variables.items() if k.startswith("vault_")]


@pytest.mark.parametrize("case", [c[0] for c in CASES])
def test_no_secret_in_the_output(case, matrix, stack_secrets):
    extra = next(c[2] for c in CASES if c[0] == case)
    output = matrix[1][case][1]
    leaked = [s for s in stack_secrets + secrets_of(extra) if len(s) >= 6 and s in output]
    assert not leaked, f"{case} printed {len(leaked)} secret(s)"
