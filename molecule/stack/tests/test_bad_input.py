"""Bad input: each case runs site.yml on the converged stack with one wrong setting. It must fail
with a message that names the variable (and the fix), and no host may change: files below the
components' directories and units, installed versions and service PIDs are compared before and after."""
import json
import os
import subprocess
import tempfile
from concurrent.futures import ThreadPoolExecutor

import pytest
from monitoring_testlib import inventory_hosts

ROOT = os.environ["MONITORING_ROOT"]
SNAPSHOT = r"""
find /etc/node_exporter /etc/prometheus /etc/alertmanager /etc/grafana /etc/amtool /etc/systemd/system \
     /opt /var/lib/grafana/dashboards /usr/local/bin -xdev \( -type f -o -type l \) \
     -printf '%p %l %s %T@\n' 2>/dev/null | sort
systemctl show -p MainPID -p ActiveState node_exporter prometheus alertmanager grafana
"""

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
    # alertmanager
    ("unknown-receiver-type", "alertmanager", {"alertmanager_receivers": [{"name": "x", "pigeon_configs": [{}]}]},
     "unknown receiver type(s) pigeon_configs"),
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
    ("grafana-database-type", "grafana", {"grafana_database": {"type": "oracle"}}, "grafana_database: type must be"),
    ("grafana-postgres-no-host", "grafana", {"grafana_database": {"type": "postgres"}}, "postgres and mysql need host and password"),
    ("grafana-ini-clash", "grafana", {"grafana_ini_extra": {"security": {"admin_password": "x"}}},
     "grafana_ini_extra sets security.admin_password"),
    ("grafana-plugin-no-version", "grafana", {"grafana_plugins": [{"name": "grafana-clock-panel"}]}, "grafana_plugins"),
    ("grafana-samesite", "grafana", {"grafana_cookie_samesite": "loose"}, "grafana_cookie_samesite"),
    ("grafana-port-type", "grafana", {"grafana_http_port": "http"}, "grafana_http_port"),
    ("grafana-dashboards-dir", "grafana", {"grafana_dashboards_dir": "/nonexistent"}, "grafana_dashboards_dir '/nonexistent'"),
]


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
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"),
                   ANSIBLE_ROLES_PATH=f"{ROOT}/roles", ANSIBLE_FILTER_PLUGINS=f"{ROOT}/roles/monitoring_common/filter_plugins",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOG_PATH=os.path.join(tmp, "ansible.log"))
        inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
        proc = subprocess.run(["ansible-playbook", f"{ROOT}/site.yml", "-i", inventory, "--limit", limit,
                               "--skip-tags", "pki", "-e", f"@{extra_file}"],
                              capture_output=True, text=True, env=env, timeout=300)
    return proc.returncode, proc.stdout + proc.stderr


@pytest.fixture(scope="module")
def matrix():
    """Host state before, every case's (exit code, output) run three at a time, host state after."""
    before = snapshot()
    with ThreadPoolExecutor(max_workers=3) as pool:
        results = dict(zip([c[0] for c in CASES], pool.map(lambda case: site(case[1], case[2]), CASES)))
    return before, results, snapshot()


def test_enough_cases():
    assert len(CASES) >= 30


@pytest.mark.parametrize("case, message", [(c[0], c[3]) for c in CASES], ids=[c[0] for c in CASES])
def test_bad_input_fails_with_a_message(case, message, matrix):
    returncode, output = matrix[1][case]
    assert returncode != 0, output[-3000:]
    assert message in " ".join(output.split()), output[-3000:]


def test_no_host_changed(matrix):
    before, _, after = matrix
    assert after == before
