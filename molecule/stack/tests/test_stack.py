"""The whole stack from outside the hosts: HTTPS and basic auth on every endpoint, every target up,
an alert from the app's error rate delivered once to the webhook and resolved, no secret in the output."""
import json
import os
import re
import time
from pathlib import Path

import pytest
import requests
from monitoring_testlib import (changed_hosts, container_ip, dashboard_queries, dashboard_result, get, inventory_hosts,
                                prometheus_targets, queries_without_data, run_logs, run_playbook, scenario_ca, sink_requests,
                                wait_for)

testinfra_hosts = inventory_hosts("prometheus")
CA = scenario_ca()
GRAFANA = bool(os.environ.get("MONITORING_GRAFANA_VERSION"))
PORTS = {"node": 9100, "prometheus": 9090, "alertmanager": 9093, "grafana": 3000, "app": 3001}
# The seed apps (prepare.yml) by scrape job: (seed, port). None has a profile; "unknown" exposes none of the names.
APPS = {"app": ("003", 3001), "app-trademachine": ("000", 3003), "app-earntrack": ("001", 3004),
        "app-prospectflow": ("002", 3005), "app-nexustrade": ("004", 3006), "app-unknown": ("none", 3007)}
RECOGNISED = [job for job, (seed, _) in APPS.items() if seed != "none"]


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
    expected |= {(job, inventory_hosts("app")[0]) for job in APPS if job != "app"}
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


def app_url(job, path):
    return f"https://{container_ip(inventory_hosts('app')[0])}:{APPS[job][1]}{path}"


def test_every_seed_app_gives_the_same_recorded_http_series_without_a_profile(prometheus, auth):
    """prom-client (003, 002 with the nodejs_ prefix), express-prom-bundle (000), the millisecond names (001) and
    004: one shape in seconds, method kept; the runtime series under any prefix."""
    jobs = set(RECOGNISED)

    def recorded(query):
        result = get(f"{prometheus}/api/v1/query", params={"query": query}, auth=auth, ca=CA).json()["data"]["result"]
        return {r["metric"]["job"]: r for r in result if r["metric"].get("job") in jobs} if result else {}

    def every_job(query, message):
        return wait_for(lambda: (lambda found: found if set(found) == jobs else None)(recorded(query)), timeout=90, message=message)
    rates = every_job("sum by (job) (app:http_requests:rate)", "app:http_requests:rate of every app")
    assert all(float(r["value"][1]) > 2 for r in rates.values()), rates  # about 10 requests a second each
    every_job('sum by (job) (app:http_requests:rate{method="POST"})', "the method label of every app")
    p95 = every_job("max by (job) (app:http_request_duration_seconds:p95)", "p95 of every app")
    # 5-200 ms per request: seconds for every app, the millisecond one scaled
    assert all(0.005 < float(r["value"][1]) < 0.3 for r in p95.values()), p95
    memory = every_job("max by (job) (app:process_resident_memory_bytes)", "the resident memory of every app")
    assert all(float(r["value"][1]) > 1e7 for r in memory.values()), memory  # seed 002's under nodejs_


def test_an_app_with_names_the_stack_does_not_know_fires_app_metrics_unrecognised(prometheus, auth):
    def firing():
        result = get(f"{prometheus}/api/v1/query", auth=auth, ca=CA,
                     params={"query": 'ALERTS{alertname="AppMetricsUnrecognised", alertstate="firing"}'}).json()
        return {r["metric"]["job"] for r in result["data"]["result"]} or None
    assert wait_for(firing, timeout=90, message="AppMetricsUnrecognised firing") == {"app-unknown"}


# What this stack runs: hosts, the overview, Prometheus, Alertmanager and the applications.
LIVE_DASHBOARDS = ["Infrastructure/*.json", "Monitoring/stack.json", "Monitoring/prometheus.json",
                   "Monitoring/alertmanager.json", "Applications/*.json"]
# Remote write needs a central store, cluster members a cluster: molecule/ha proves these.
ELSEWHERE = {"Monitoring/prometheus.json: Remote write samples [A]", "Monitoring/prometheus.json: Remote write samples [B]",
             "Monitoring/prometheus.json: Remote write delay [A]", "Monitoring/alertmanager.json: Cluster members [A]"}


def test_every_dashboard_query_returns_data(prometheus, auth, capsys):
    """Each query of the host, overview, Prometheus, Alertmanager and application dashboards returns series from this
    stack; the list of those without is printed."""
    assert queries_without_data(f"{prometheus}/api/v1", auth, CA, LIVE_DASHBOARDS, capsys, timeout=90, elsewhere=ELSEWHERE) == []


# Recorded series and what an app must expose for them (app:* and job_route:*: any recognised HTTP naming).
RECORDED_FROM = {"job:app_cache_hits:ratio": "cache_hits_total", "job:app_jobs_failed:ratio": "jobs_executed_total",
                 "job_provider:app_data_provider_errors:ratio": "data_provider_errors_total"}


def exposed(job, token):
    text = requests.get(app_url(job, "/metrics"), verify=CA, timeout=10, headers={"Authorization": f"Bearer {token}"}).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def expected_for(expr, names):
    """Whether an app exposing `names` feeds the query: every metric it reads is exposed (or recorded from one)."""
    needed = set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr)) - {"up"}
    return all((n.startswith(("app:", "job_route:")) and bool(names & {"http_requests_total", "http_request_duration_ms_count",
                                                                         "http_request_duration_seconds_count"}))
               or RECORDED_FROM.get(n, n) in names for n in needed)


def test_every_application_panel_has_data_for_every_app_that_exposes_its_metrics(prometheus, auth, secrets, capsys):
    """Per app job, every query of the Applications dashboards: data wherever the seed app exposes what the query
    reads (HTTP and runtime for all of them, through the recording rules; the business rows per seed). The table
    goes to the log: + data, . not this app's metrics, ! expected and missing."""
    queries = dashboard_queries(["Applications/*.json"])
    names = {job: exposed(job, secrets["vault_app_metrics_token"]) for job in RECOGNISED}
    wanted = {(job, where) for job in RECOGNISED for where, expr in queries if expected_for(expr, names[job])}
    found = set()
    deadline = time.monotonic() + 120
    while True:
        for job in RECOGNISED:
            for where, expr in queries:
                if (job, where) in wanted and (job, where) not in found and \
                        dashboard_result(f"{prometheus}/api/v1", auth, CA, where, expr, job=job):
                    found.add((job, where))
        if found == wanted or time.monotonic() > deadline:
            break
        time.sleep(5)
    with capsys.disabled():
        print("\npanels with data per seed app (+ data, . not its metrics, ! missing):")
        print("  " + " ".join(f"{APPS[job][0]:>4}" for job in RECOGNISED) + "  query")
        for where, _ in queries:
            marks = ["+" if (j, where) in found else "!" if (j, where) in wanted else "." for j in RECOGNISED]
            print("  " + " ".join(f"{m:>4}" for m in marks) + f"  {where}")
        for job in RECOGNISED:
            print(f"  {job} (seed {APPS[job][0]}): {len([w for j, w in found if j == job])} of {len(queries)} queries with data")
    assert sorted(wanted - found) == []
    # HTTP and runtime panels fill for every app, whatever its library or prefix
    for job in RECOGNISED:
        assert {w for j, w in found if j == job} >= {w for w, e in queries if w.startswith(
            ("Applications/runtime.json", "Applications/overview.json"))}, job


def test_high_error_rate_fires_for_every_app_at_half_5xx_and_reaches_the_webhook_once(prometheus, auth, secrets):
    """The shipped HighErrorRate, through the recording rules of each app's own naming: 50 % 5xx on every seed app,
    one firing notification per app at the sink, each resolved when the errors stop."""
    sink = f"http://{container_ip(inventory_hosts('app')[0])}:8080"
    token = {"Authorization": f"Bearer {secrets['vault_app_metrics_token']}"}

    def notifications(status):
        return [alert for request in sink_requests(sink, "/alerts") for alert in request["body"]["alerts"]
                if alert["labels"]["alertname"] == "HighErrorRate" and alert["status"] == status]

    def jobs(status):
        found = {a["labels"]["job"] for a in notifications(status)}
        return found if found >= set(RECOGNISED) else None

    for job in RECOGNISED:
        requests.post(app_url(job, "/control?error_ratio=0.5"), verify=CA, timeout=10, headers=token).raise_for_status()
    try:
        wait_for(lambda: jobs("firing"), timeout=180, message="a firing notification for every app at the sink")
    finally:
        for job in RECOGNISED:
            requests.post(app_url(job, "/control?error_ratio=0"), verify=CA, timeout=10, headers=token).raise_for_status()
    firing = {a["labels"]["job"]: a for a in notifications("firing")}
    labels = firing["app"]["labels"]
    assert {k: labels.get(k) for k in ("alertname", "severity", "job", "service", "environment")} == {
        "alertname": "HighErrorRate", "severity": "critical", "job": "app", "service": "app", "environment": "stack-test"}
    assert firing["app"]["annotations"]["runbook_url"].endswith("/api.md#higherrorrate")
    wait_for(lambda: jobs("resolved"), timeout=180, message="the resolved notification of every app")
    counts = {job: len([a for a in notifications("firing") if a["labels"]["job"] == job]) for job in RECOGNISED}
    assert counts == {job: 1 for job in RECOGNISED}  # once, not once per evaluation or per Alertmanager retry


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
