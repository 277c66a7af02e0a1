"""The shipped alert rules against their `promtool test rules` files (tests/rules/*_test.yml), with the release's
own promtool: each alert fires, stays silent just below its threshold and while shorter than its `for:`.

Rule files ship with `${name}` placeholders; the tests read them as the role deploys them with the defaults
(prometheus_render_rules), in rendered/, next to the generated profile rules (rendered/app_profiles.yml) for
the built-in profiles, the automatic one and the custom one below (the seeds' millisecond names, as seed 001 exposes them)."""
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from prometheus_rules import BUILTIN_PROFILES, prometheus_profile_rules, prometheus_render_rules
from test_secret_fields import _archive, _unpack

ROOT = Path(__file__).resolve().parents[2]
RULE_TESTS = ROOT / "tests/rules"
SHIPPED = ROOT / "files/prometheus/rules"
CUSTOM_PROFILES = {"orders-api": {"requests": "http_requests_total", "duration": "http_request_duration_ms",
                                  "duration_unit": "ms", "route_label": "endpoint", "status_label": "status"}}


def shipped_files():
    return {path.name: path.read_text() for path in sorted(SHIPPED.glob("*.yml"))}


@pytest.fixture(scope="module")
def promtool(tmp_path_factory):
    return _unpack(_archive("prometheus"), ("promtool",), tmp_path_factory.mktemp("promtool")) / "promtool"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    """The test files next to rendered/: the shipped rule files with their defaults, and the profile rules."""
    out = tmp_path_factory.mktemp("rules")
    rendered = prometheus_render_rules(dict(shipped_files(), **{"app_profiles.yml": prometheus_profile_rules(CUSTOM_PROFILES)}))
    assert not rendered["problems"]
    (out / "rendered").mkdir()
    for name, text in rendered["files"].items():
        (out / "rendered" / name).write_text(text)
    for path in RULE_TESTS.glob("*_test.yml"):
        shutil.copy(path, out / path.name)
    return out


@pytest.mark.parametrize("test_file", sorted(p.name for p in RULE_TESTS.glob("*_test.yml")))
def test_rule_tests_pass(promtool, workdir, test_file):
    proc = subprocess.run([promtool, "test", "rules", test_file], cwd=workdir, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_the_rendered_rule_files_pass_promtool_check(promtool, workdir):
    proc = subprocess.run([promtool, "check", "rules", *sorted((workdir / "rendered").glob("*.yml"))],
                          capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def alert_cases(test_file):
    """{alertname: (firing cases, silent cases)} of one test file."""
    cases = {}
    for test in yaml.safe_load((RULE_TESTS / test_file).read_text())["tests"]:
        for case in test.get("alert_rule_test") or []:
            firing, silent = cases.setdefault(case["alertname"], (set(), set()))
            (firing if case.get("exp_alerts") else silent).add(f"{test['name']}@{case['eval_time']}")
    return cases


@pytest.mark.parametrize("rule_file", sorted(shipped_files()))
def test_every_shipped_alert_has_a_firing_and_a_silent_case(rule_file):
    """Each shipped rule file has its test file (<name>_test.yml, reading rendered/<name>) with a firing and a
    silent case for each of its alerts: a new alert without tests fails here."""
    test_file = rule_file.replace(".yml", "_test.yml")
    assert (RULE_TESTS / test_file).exists(), f"{rule_file} has no tests/rules/{test_file}"
    assert f"rendered/{rule_file}" in yaml.safe_load((RULE_TESTS / test_file).read_text())["rule_files"]
    rules = [rule for group in yaml.safe_load((SHIPPED / rule_file).read_text())["groups"] for rule in group["rules"]]
    cases = alert_cases(test_file)
    # an always-firing alert (the Watchdog, vector(1)) has no silent case
    always = {rule["alert"] for rule in rules if "alert" in rule and rule["expr"].strip() == "vector(1)"}
    assert not [rule["alert"] for rule in rules if "alert" in rule
                if not cases.get(rule["alert"], ((), ()))[0] or (not cases[rule["alert"]][1] and rule["alert"] not in always)], cases


def test_every_alert_has_severity_summary_description_and_runbook():
    missing = [f"{name}: {rule['alert']}" for name, text in shipped_files().items()
               for group in yaml.safe_load(text)["groups"] for rule in group["rules"] if "alert" in rule
               if "severity" not in rule.get("labels", {})
               or not {"summary", "description", "runbook_url"} <= set(rule.get("annotations", {}))]
    assert not missing


def test_the_application_alerts_are_tested_in_every_profile():
    """api_test.yml feeds the HTTP alerts each profile's own metric names (metrics_profile="<name>")."""
    text = (RULE_TESTS / "api_test.yml").read_text()
    assert "rendered/app_profiles.yml" in text
    assert not [name for name in [*BUILTIN_PROFILES, *CUSTOM_PROFILES] if f'metrics_profile="{name}"' not in text]


RUNBOOKS = ROOT / "docs/runbooks"


@pytest.mark.parametrize("rule_file", sorted(shipped_files()))
def test_every_shipped_alert_has_a_runbook_page(rule_file):
    """runbook_url of each alert is <runbook_url>/<file>.md#<alert>: that page ships, with a section for the alert
    saying what it means, what to check first and how to silence it."""
    rendered = prometheus_render_rules({rule_file: shipped_files()[rule_file]})["files"][rule_file]
    for group in yaml.safe_load(rendered)["groups"]:
        for rule in group["rules"]:
            if "alert" not in rule:
                continue
            url = rule["annotations"]["runbook_url"]
            assert url.startswith("docs/runbooks/") and url.endswith(f"#{rule['alert'].lower()}"), url
            page = (ROOT / url.split("#")[0]).read_text()
            section = page.split(f"\n## {rule['alert']}\n", 1)
            assert len(section) == 2, f"{url}: no section ## {rule['alert']}"
            text = section[1].split("\n## ", 1)[0]
            assert all(part in text for part in ("**Meaning.**", "**First checks.**", "**Silence.**")), url
