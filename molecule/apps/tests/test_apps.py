"""The seed applications on the real prom-client and express-prom-bundle, scraped without a profile: the same
recorded HTTP and runtime series for every naming, every Applications panel with data for every app that exposes
what it reads, the shipped HighErrorRate at the webhook once per app, AppMetricsUnrecognised for the app whose
names the stack does not know."""
import re
import time
from pathlib import Path

import pytest
import requests
import yaml
from monitoring_testlib import (container_ip, dashboard_queries, dashboard_result, get, hostvars, inventory_hosts,  # noqa: F401
                                scenario_ca, sink_requests, wait_for)

testinfra_hosts = inventory_hosts("app")
CA = scenario_ca()
AUTH = ("prometheus", "Exp-scrape-pw-3a91c7")  # monitoring_basic_auth_users in molecule.yml
ROOT = Path(__file__).resolve().parents[3]
# The seed apps (prepare.yml) by scrape job: (seed, port). None has a profile; "unknown" exposes none of the names.
APPS = {"app": ("003", 3001), "app-trademachine": ("000", 3003), "app-earntrack": ("001", 3002),
        "app-prospectflow": ("002", 3005), "app-nexustrade": ("004", 3006), "app-unknown": ("none", 3007)}
RECOGNISED = [job for job, (seed, _) in APPS.items() if seed != "none"]
HTTP_NAMES = {"http_requests_total", "http_request_duration_ms_count", "http_request_duration_seconds_count"}


@pytest.fixture(scope="module")
def prometheus():
    return f"https://{container_ip(inventory_hosts('prometheus')[0])}:9090"


@pytest.fixture(scope="module")
def token(hostvars):  # noqa: F811
    return {"Authorization": f"Bearer {hostvars['test_app_token']}"}


def app_url(job, path):
    return f"http://{container_ip(inventory_hosts('app')[0])}:{APPS[job][1]}{path}"


def test_every_seed_app_gives_the_same_recorded_http_series_without_a_profile(prometheus):
    """prom-client (003, 002 with the nodejs_ prefix), express-prom-bundle (000), the millisecond names (001) and
    004: one shape in seconds, method kept; the runtime series under any prefix."""
    jobs = set(RECOGNISED)

    def recorded(query):
        result = get(f"{prometheus}/api/v1/query", params={"query": query}, auth=AUTH, ca=CA).json()["data"]["result"]
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


def test_an_app_with_names_the_stack_does_not_know_fires_app_metrics_unrecognised(prometheus):
    def firing():
        result = get(f"{prometheus}/api/v1/query", auth=AUTH, ca=CA,
                     params={"query": 'ALERTS{alertname="AppMetricsUnrecognised", alertstate="firing"}'}).json()
        return {r["metric"]["job"] for r in result["data"]["result"]} or None
    assert wait_for(firing, timeout=90, message="AppMetricsUnrecognised firing") == {"app-unknown"}


def exposed(job, token):
    text = requests.get(app_url(job, "/metrics"), timeout=10, headers=token).text
    return {line.split("{")[0].split(" ")[0] for line in text.splitlines() if line and not line.startswith("#")}


def recorded_from():
    """{recorded series: the names its rule reads} of api.yml (the seeds' own metrics and the ratios)."""
    groups = yaml.safe_load((ROOT / "files/prometheus/rules/api.yml").read_text())["groups"]
    return {r["record"]: set(re.findall(r"[a-zA-Z_:][\w:]*", r["expr"])) for g in groups for r in g["rules"] if "record" in r}


def expected_for(expr, names, recorded):
    """Whether an app exposing `names` feeds the query: every series it reads is exposed, recorded from one the app
    exposes (api.yml), or an app:* series of app_profiles.yml (any recognised HTTP naming)."""
    def fed(name):
        if name in recorded:
            return any(fed(n) for n in recorded[name] if n in recorded or n in names or n.startswith("app:"))
        if name.startswith("app:"):
            return bool(names & HTTP_NAMES)
        return name in names
    return all(fed(n) for n in set(re.findall(r"([a-zA-Z_:][a-zA-Z0-9_:]*)\s*\{", expr)) - {"up"})


def test_every_application_panel_has_data_for_every_app_that_exposes_its_metrics(prometheus, token, capsys):
    """Per app job, every query of the Applications dashboards: data wherever the seed app exposes what the query
    reads (HTTP and runtime for all of them; the job and business rows through api.yml's records, per seed). The
    table goes to the log: + data, . not this app's metrics, ! expected and missing."""
    queries = dashboard_queries(["Applications/*.json"])
    recorded = recorded_from()
    names = {job: exposed(job, token) for job in RECOGNISED}
    wanted = {(job, where) for job in RECOGNISED for where, expr in queries if expected_for(expr, names[job], recorded)}
    found = set()
    deadline = time.monotonic() + 120
    while True:
        for job in RECOGNISED:
            for where, expr in queries:
                if (job, where) in wanted and (job, where) not in found and \
                        dashboard_result(f"{prometheus}/api/v1", AUTH, CA, where, expr, job=job):
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
    # HTTP and runtime panels fill for every app, whatever its library or prefix; each seed's business row fills
    for job in RECOGNISED:
        assert {w for j, w in found if j == job} >= {w for w, e in queries if w.startswith(
            ("Applications/runtime.json", "Applications/overview.json"))}, job
    business = {APPS[j][0]: {w for jj, w in found if jj == j and w.startswith("Applications/business.json")} for j in RECOGNISED}
    assert all(business[seed] for seed in ("000", "001", "002", "004")), business


def test_high_error_rate_fires_for_every_app_at_half_5xx_and_reaches_the_webhook_once(prometheus, token):
    """The shipped HighErrorRate, through the recording rules of each app's own naming: 50 % 5xx on every seed app,
    one firing notification per app at the sink, each resolved when the errors stop."""
    sink = f"http://{container_ip(inventory_hosts('app')[0])}:8080"

    def notifications(status):
        return [alert for request in sink_requests(sink, "/alerts") for alert in request["body"]["alerts"]
                if alert["labels"]["alertname"] == "HighErrorRate" and alert["status"] == status]

    def jobs(status):
        found = {a["labels"]["job"] for a in notifications(status)}
        return found if found >= set(RECOGNISED) else None

    for job in RECOGNISED:
        requests.post(app_url(job, "/control?error_ratio=0.5"), timeout=10, headers=token).raise_for_status()
    try:
        wait_for(lambda: jobs("firing"), timeout=180, message="a firing notification for every app at the sink")
    finally:
        for job in RECOGNISED:
            requests.post(app_url(job, "/control?error_ratio=0"), timeout=10, headers=token).raise_for_status()
    firing = {a["labels"]["job"]: a for a in notifications("firing")}
    labels = firing["app"]["labels"]
    assert {k: labels.get(k) for k in ("alertname", "severity", "job", "service")} == {
        "alertname": "HighErrorRate", "severity": "critical", "job": "app", "service": "app"}
    assert firing["app"]["annotations"]["runbook_url"].endswith("/api.md#higherrorrate")
    wait_for(lambda: jobs("resolved"), timeout=180, message="the resolved notification of every app")
    counts = {job: len([a for a in notifications("firing") if a["labels"]["job"] == job]) for job in RECOGNISED}
    assert counts == {job: 1 for job in RECOGNISED}  # once, not once per evaluation or per Alertmanager retry
