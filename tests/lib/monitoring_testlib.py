"""Helpers for the verifiers: reach services over the real protocol and parse what they say."""
import datetime
import json
import os
import re
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

SAMPLE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)')
LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"')


def container_ip(name):
    """IP address of a Molecule/lab container on its first network."""
    out = subprocess.run(["docker", "inspect", name], check=True, capture_output=True, text=True).stdout
    networks = json.loads(out)[0]["NetworkSettings"]["Networks"]
    return next(n["IPAddress"] for n in networks.values() if n["IPAddress"])


def parse_metrics(text):
    """Prometheus text format -> list of (name, {label: value}, float)."""
    samples = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        match = SAMPLE.match(line)
        if match:
            name, labels, value = match.groups()
            samples.append((name, dict(LABEL.findall(labels or "")), float(value)))
    return samples


def get(url, auth=None, ca=None, timeout=10, params=None):
    """HTTP(S) GET that verifies TLS against `ca` when given."""
    return requests.get(url, auth=auth, verify=ca if ca else True, timeout=timeout, params=params)


def scrape(url, auth=None, ca=None):
    response = get(url, auth=auth, ca=ca)
    response.raise_for_status()
    return parse_metrics(response.text)


def values(samples, metric, **labels):
    """Values of `metric` whose labels include `labels`."""
    return [v for n, lab, v in samples if n == metric and all(lab.get(k) == w for k, w in labels.items())]


def exposure(host, unit):
    """Overall exposure score from `systemd-analyze security UNIT` inside the host."""
    out = host.check_output(f"systemd-analyze security --no-pager {unit}")
    match = re.search(r"Overall exposure level for \S+: ([0-9.]+)", out)
    assert match, out
    return float(match.group(1))


def assert_hardened(host, unit, capsys, limit=2.0):
    """Exposure of `unit` at most `limit`; the score is printed past pytest's capture for the report."""
    score = exposure(host, unit)
    with capsys.disabled():
        print(f"\nexposure {unit} on {host.backend.get_hostname()}: {score}")
    assert score <= limit, f"{unit} exposure {score} > {limit}"


def assert_runs_as_its_own_user(host, name):
    """The component's service is running and enabled, its process runs as the user of its name."""
    service = host.service(name)
    assert service.is_running and service.is_enabled, name
    assert host.process.get(comm=name).user == name


GOLDEN_UNITS = Path(__file__).resolve().parents[1] / "golden/units"


def assert_golden_unit(host, unit):
    """The unit file on the host is the committed tests/golden/units/<unit>, byte for byte: a change to a shipped
    unit (its template, a role's arguments or hardening) shows in review. MONITORING_UPDATE_GOLDEN=1 writes the
    host's file there instead (then review the diff)."""
    text = host.file(f"/etc/systemd/system/{unit}").content_string
    golden = GOLDEN_UNITS / unit
    if os.environ.get("MONITORING_UPDATE_GOLDEN"):
        golden.write_text(text)
    assert golden.exists() and text == golden.read_text(), \
        f"/etc/systemd/system/{unit} differs from tests/golden/units/{unit} (MONITORING_UPDATE_GOLDEN=1 rewrites it)"


def run_logs():
    """Everything the scenario's Ansible runs printed so far (files named by the runner)."""
    paths = [p for p in os.environ.get("MONITORING_RUN_LOGS", "").split(":") if p]
    assert paths, "MONITORING_RUN_LOGS is not set: run scenarios through tools/run_tests.py"
    text = ""
    for path in paths:
        with open(path, encoding="utf-8", errors="replace") as fh:
            text += fh.read()
    return text


# Dashboards of the exporters' services (files/grafana/dashboards/Services), proven in molecule/apps.
SERVICES = "Services/"


def dashboard_query(expr, job=".*"):
    """A panel query as Grafana would send it: every instance, every job or the one given, a 1m rate window."""
    expr = re.sub(r"\$job\b", lambda _: job, expr.replace("$__rate_interval", "1m"))
    return re.sub(r"\$instance\b", ".*", expr)


def dashboard_result(api, auth, ca, where, expr, job=".*"):
    """The series a dashboard query returns now (dashboard_query); a query Prometheus refuses fails the test."""
    answer = get(f"{api}/query", auth=auth, ca=ca, params={"query": dashboard_query(expr, job)}).json()
    assert answer["status"] == "success", (where, expr, answer)
    return answer["data"]["result"]


DASHBOARDS_DIR = Path(__file__).resolve().parents[2] / "files/grafana/dashboards"


def dashboard_queries(patterns):
    """(where, expr) of every query of the shipped dashboards matching the glob patterns, e.g. "Applications/*.json";
    where is "<file>: <panel> [<refId>]". Row panels have no queries."""
    paths = sorted({p for pattern in patterns for p in DASHBOARDS_DIR.glob(pattern)})
    assert paths, patterns
    return [(f"{path.relative_to(DASHBOARDS_DIR)}: {panel['title']} [{target['refId']}]", target["expr"])
            for path in paths for panel in json.loads(path.read_text())["panels"] for target in panel.get("targets") or []]


def queries_without_data(api, auth, ca, patterns, capsys, timeout=60, elsewhere=()):
    """The dashboard queries (dashboard_queries) that still return no series after `timeout` s, each as where; a
    query Prometheus refuses fails at once. Printed past pytest's capture (capsys: the test's fixture), so the
    scenario's log lists them whether the test passes or not. elsewhere: queries another scenario proves (what
    they watch does not run here), not run."""
    queries = dashboard_queries(patterns)
    assert not set(elsewhere) - {where for where, _ in queries}, "unknown queries in elsewhere"
    pending = [(where, expr) for where, expr in queries if where not in elsewhere]
    deadline = time.monotonic() + timeout
    while True:
        pending = [(where, expr) for where, expr in pending if not dashboard_result(api, auth, ca, where, expr)]
        if not pending or time.monotonic() > deadline:
            with capsys.disabled():
                print(f"\ndashboard queries without data ({', '.join(patterns)}): {[w for w, _ in pending] or 'none'}")
            return [where for where, _ in pending]
        time.sleep(5)


def url_join(base, path):
    return urllib.parse.urljoin(base.rstrip("/") + "/", path.lstrip("/"))


def prometheus_targets(api, auth=None, ca=None, expect_up=True, wait=45):
    """Active targets from /api/v1/targets, waiting until all are up (or `wait` runs out)."""
    deadline = time.monotonic() + wait
    while True:
        targets = get(f"{api}/targets?state=active", auth=auth, ca=ca).json()["data"]["activeTargets"]
        if not expect_up or (targets and all(t["health"] == "up" for t in targets)) or time.monotonic() > deadline:
            return targets
        time.sleep(2)


def inventory_hosts(pattern="all", required=True):
    """Hosts of the scenario matching `pattern`; reads Molecule's whole inventory directory
    (generated hosts plus the scenario's groups) and refuses an empty answer unless not `required`."""
    import testinfra.utils.ansible_runner  # only inside verifiers

    inventory_dir = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
    hosts = testinfra.utils.ansible_runner.AnsibleRunner(inventory_dir).get_hosts(pattern)
    assert hosts or not required, f"no hosts match {pattern!r} in {inventory_dir}"
    return hosts


def wait_for(check, timeout=60, interval=1, message="condition"):
    """Poll `check()` until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        result = check()
        if result:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def post_alert(alertmanager, labels, resolved=False, auth=None, ca=None, annotations=None):
    """Send one alert to Alertmanager's v2 API (resolved: endsAt now)."""
    now = datetime.datetime.now(datetime.timezone.utc)
    alert = {"labels": labels, "annotations": annotations or {"summary": f"test alert {labels.get('alertname')}"},
             "startsAt": (now - datetime.timedelta(minutes=1)).isoformat()}
    if resolved:
        alert["endsAt"] = now.isoformat()
    response = requests.post(f"{alertmanager}/api/v2/alerts", json=[alert], auth=auth,
                             verify=ca if ca else True, timeout=10)
    response.raise_for_status()


def sink_requests(sink, path=None):
    """What the test sink recorded, optionally only requests to `path`."""
    recorded = get(f"{sink}/requests").json()
    return [r for r in recorded if path is None or r["path"] == path]


def scenario_ca():
    """The CAs the scenario's hosts trust (the internal CA's ca-bundle.crt, controller path): the current CA first,
    during a rotation the other one too."""
    return os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "pki", "ca-bundle.crt")


@pytest.fixture(scope="module")
def hostvars(host):
    """The host's inventory variables (import this fixture into a verifier module)."""
    return host.ansible.get_variables()


RECAP = re.compile(r"^(\S+)\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def run_playbook(playbook, *args, timeout=300):
    """ansible-playbook on the scenario's inventory with Molecule's ansible.cfg (as converge runs it);
    (exit code, output). Its log goes to a temporary file, not to the runner's logs."""
    import tempfile
    root = os.environ["MONITORING_ROOT"]
    with tempfile.TemporaryDirectory() as tmp:
        env = dict(os.environ, ANSIBLE_CONFIG=os.path.join(os.environ["MOLECULE_EPHEMERAL_DIRECTORY"], "ansible.cfg"),
                   ANSIBLE_COLLECTIONS_PATH=f"{root}/collections:~/.ansible/collections:/usr/share/ansible/collections",
                   ANSIBLE_FORCE_COLOR="0", ANSIBLE_LOG_PATH=os.path.join(tmp, "ansible.log"))
        inventory = os.path.dirname(os.environ["MOLECULE_INVENTORY_FILE"])
        proc = subprocess.run(["ansible-playbook", playbook, "-i", inventory, *args],
                              capture_output=True, text=True, env=env, timeout=timeout)
    return proc.returncode, proc.stdout + proc.stderr


def changed_hosts(output):
    """Hosts the play recap shows changed, unreachable or failed (empty when the run changed nothing)."""
    recaps = RECAP.findall(output)
    assert recaps, output[-2000:]
    return [host for host, changed, unreachable, failed in recaps if (changed, unreachable, failed) != ("0", "0", "0")]
