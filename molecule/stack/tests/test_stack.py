"""The whole stack from outside the hosts: HTTPS and basic auth on every endpoint, every target up, every
dashboard query of what it runs with data, the Watchdog at Alertmanager only, no secret in the output, --limit
to one host changing nothing. The seed apps' own proof is molecule/apps."""
import json
import os
from pathlib import Path

import pytest
import requests
from monitoring_testlib import (changed_hosts, container_ip, get, inventory_hosts, prometheus_targets, queries_without_data,
                                run_logs, run_playbook, scenario_ca, sink_requests, wait_for)

testinfra_hosts = inventory_hosts("prometheus")
CA = scenario_ca()
GRAFANA = bool(os.environ.get("MONITORING_GRAFANA_VERSION"))
PORTS = {"node": 9100, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "app": 3001}


@pytest.fixture(scope="module")
def secrets(host):
    return {k: v for k, v in host.ansible.get_variables().items() if k.startswith("vault_")}


@pytest.fixture(scope="module")
def auth(secrets):
    return ("prometheus", secrets["vault_monitoring_scrape_password"])


@pytest.fixture(scope="module")
def prometheus():
    return f"https://{container_ip(inventory_hosts('prometheus')[0])}:9090"


def endpoints():
    """(job, host, URL that needs credentials) for every endpoint the stack serves."""
    found = [("node", h, f"https://{container_ip(h)}:9100/metrics") for h in inventory_hosts("node_exporter")]
    found.append(("prometheus", inventory_hosts("prometheus")[0],
                  f"https://{container_ip(inventory_hosts('prometheus')[0])}:9090/api/v1/status/config"))
    found.append(("alertmanager", inventory_hosts("alertmanager")[0],
                  f"https://{container_ip(inventory_hosts('alertmanager')[0])}:9093/api/v2/status"))
    if GRAFANA:
        found.append(("grafana", inventory_hosts("grafana")[0], f"https://{container_ip(inventory_hosts('grafana')[0])}:3000/metrics"))
    return found


def test_every_target_up_over_https(prometheus, auth):
    expected = {("node", h) for h in inventory_hosts("node_exporter")}
    expected |= {(job, inventory_hosts(job)[0]) for job in ("prometheus", "alertmanager", "app")}
    if GRAFANA:
        expected.add(("grafana", inventory_hosts("grafana")[0]))
    # A configuration-only Grafana is not running by design: no job may scrape it (TargetDown on a healthy stack).
    jobs = {t["labels"]["job"] for t in prometheus_targets(f"{prometheus}/api/v1", auth=auth, ca=CA, expect_up=False, wait=0)}
    assert ("grafana" in jobs) is GRAFANA, jobs

    def all_up():
        current = [t for t in prometheus_targets(f"{prometheus}/api/v1", auth=auth, ca=CA, expect_up=False, wait=0)
                   if (t["labels"]["job"], t["labels"]["instance"].rsplit(":", 1)[0]) in expected]
        return current if len(current) == len(expected) and all(t["health"] == "up" for t in current) else None

    targets = wait_for(all_up, timeout=60, message="every target up")
    assert {(t["labels"]["job"], t["labels"]["instance"].rsplit(":", 1)[0]) for t in targets} == expected
    assert {t["scrapeUrl"].split("://")[0] for t in targets} == {"https"}


@pytest.mark.parametrize("job", sorted(PORTS))
def test_endpoints_need_credentials_and_refuse_plain_http(job, auth, secrets):
    if job == "alertmanager":  # its own users: the scrape password is not one of them
        auth = ("alerts", secrets["vault_alertmanager_alerts_password"])
    if job == "grafana" and not GRAFANA:
        pytest.skip("no Grafana artifact given (MONITORING_GRAFANA_TARBALL): Grafana is configured, not running")
    if job == "app":
        pytest.skip("bearer token, not basic auth: test_app_endpoint_needs_its_token")
    checked = [(h, url) for j, h, url in endpoints() if j == job]
    assert checked
    for host, url in checked:
        assert get(url, ca=CA).status_code == 401, url
        assert get(url, ca=CA, auth=("prometheus", "wrong")).status_code == 401, url
        assert get(url, ca=CA, auth=auth).status_code == 200, url
        try:
            plain = get(url.replace("https://", "http://"), auth=auth)
        except requests.exceptions.ConnectionError:
            continue
        assert plain.status_code == 400, (url, plain.status_code)


def test_a_user_per_client(prometheus, auth, secrets, host):
    alertmanager = f"https://{container_ip(inventory_hosts('alertmanager')[0])}:9093/api/v2"
    silence = {"matchers": [{"name": "alertname", "value": "x", "isRegex": False}], "createdBy": "test",
               "comment": "scrape password", "startsAt": "2026-01-01T00:00:00Z", "endsAt": "2099-01-01T00:00:00Z"}
    # The scrape password, on every exporter's host, can neither read Alertmanager nor create a silence.
    assert requests.post(f"{alertmanager}/silences", json=silence, auth=auth, verify=CA, timeout=10).status_code == 401
    assert get(f"{alertmanager}/status", ca=CA, auth=("grafana", secrets["vault_grafana_datasource_password"])).ok
    # Prometheus sends alerts and scrapes Alertmanager as "alerts" (the alerting config and the job show the user).
    config = get(f"{prometheus}/api/v1/status/config", auth=auth, ca=CA).json()["data"]["yaml"]
    assert "username: alerts" in config and "password_file: /etc/prometheus/secrets/alertmanager.password" in config
    grafana = host.get_host(f"ansible://{inventory_hosts('grafana')[0]}?ansible_inventory="
                            + os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))
    datasources = grafana.file("/etc/grafana/provisioning/datasources/monitoring.yml").content_string
    assert "basicAuthUser: grafana" in datasources and "basicAuthUser: prometheus" not in datasources


def test_app_endpoint_needs_its_token(secrets):
    url = f"https://{container_ip(inventory_hosts('app')[0])}:3001/metrics"
    assert get(url, ca=CA).status_code == 401
    assert requests.get(url, verify=CA, timeout=10, headers={"Authorization": "Bearer wrong"}).status_code == 401
    good = requests.get(url, verify=CA, timeout=10, headers={"Authorization": f"Bearer {secrets['vault_app_metrics_token']}"})
    assert good.status_code == 200 and "http_requests_total" in good.text
    with pytest.raises(requests.exceptions.ConnectionError):
        requests.get(url.replace("https://", "http://"), timeout=10)


def test_environment_label_and_retention(prometheus, auth):
    config = get(f"{prometheus}/api/v1/status/config", auth=auth, ca=CA).json()["data"]["yaml"]
    assert "environment: stack-test" in config
    flags = get(f"{prometheus}/api/v1/status/flags", auth=auth, ca=CA).json()["data"]
    assert flags["storage.tsdb.retention.time"] == "1w"


# What this stack runs: hosts, the overview, Prometheus, Alertmanager, and seed 003's app in the HTTP and runtime
# dashboards (molecule/apps proves every Applications panel per seed app).
LIVE_DASHBOARDS = ["Infrastructure/*.json", "Monitoring/stack.json", "Monitoring/prometheus.json",
                   "Monitoring/alertmanager.json", "Applications/overview.json", "Applications/http-traffic.json",
                   "Applications/runtime.json"]
# Remote write needs a central store, cluster members a cluster: molecule/ha proves these.
ELSEWHERE = {"Monitoring/prometheus.json: Remote write samples [A]", "Monitoring/prometheus.json: Remote write samples [B]",
             "Monitoring/prometheus.json: Remote write delay [A]", "Monitoring/alertmanager.json: Cluster members [A]",
             # seed 001's millisecond histogram: molecule/apps runs that app
             "Applications/http-traffic.json: Latency heatmap (milliseconds) [A]"}


def test_every_dashboard_query_returns_data(prometheus, auth, capsys):
    """Each query of the host, overview, Prometheus, Alertmanager and application HTTP dashboards returns series from
    this stack; the list of those without is printed."""
    assert queries_without_data(f"{prometheus}/api/v1", auth, CA, LIVE_DASHBOARDS, capsys, timeout=90, elsewhere=ELSEWHERE) == []


def test_amtool_on_the_alertmanager_host(host):
    alertmanager = host.get_host(f"ansible://{inventory_hosts('alertmanager')[0]}?ansible_inventory="
                                 + os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"]))
    out = alertmanager.run("amtool --output=json alert query")
    assert out.rc == 0, out.stderr
    assert isinstance(json.loads(out.stdout), list)


def test_the_watchdog_reaches_alertmanager_and_no_one_else(secrets):
    """The shipped Watchdog fires always: it is active in Alertmanager, routed to the receiver without integrations
    (alertmanager_watchdog_receiver ""), and never at the webhook of the default route."""
    alertmanager = f"https://{container_ip(inventory_hosts('alertmanager')[0])}:9093/api/v2"
    auth = ("alerts", secrets["vault_alertmanager_alerts_password"])

    def watchdog():
        alerts = get(f"{alertmanager}/alerts", ca=CA, auth=auth, params={"filter": 'alertname="Watchdog"'}).json()
        return [a for a in alerts if a["status"]["state"] == "active"]

    [alert] = wait_for(watchdog, timeout=60, message="the Watchdog active in Alertmanager")
    assert [r["name"] for r in alert["receivers"]] == ["watchdog-null"]
    assert alert["labels"]["environment"] == "stack-test"
    sink = f"http://{container_ip(inventory_hosts('app')[0])}:8080"
    assert not [a for r in sink_requests(sink, "/alerts") for a in r["body"]["alerts"] if a["labels"]["alertname"] == "Watchdog"]


def test_no_secret_in_the_output(secrets):
    text = run_logs()
    leaked = [name for name, value in secrets.items() if value in text]
    keys = [p for p in Path(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pki").glob("*.key")]
    assert keys
    for key in keys:
        body = "".join(line for line in key.read_text().splitlines() if "-----" not in line)
        if body[:40] in text.replace("\n", ""):
            leaked.append(key.name)
    assert leaked == []


@pytest.mark.parametrize("limit", ["stack-prometheus", "stack-alertmanager", "stack-grafana", "stack-node1"])
def test_limit_to_one_host_changes_nothing(limit):
    """Nothing a host renders may depend on facts of hosts outside the play."""
    returncode, output = run_playbook(os.path.join(os.environ["MONITORING_ROOT"], "site.yml"), "--limit", limit)
    assert returncode == 0 and changed_hosts(output) == [], output[-3000:]
