"""The shipped alert rules against their `promtool test rules` files (tests/rules/*_test.yml), with the release's
own promtool: each tested alert fires, stays silent just below its threshold and while shorter than its `for:`."""
import subprocess
from pathlib import Path

import pytest
import yaml
from test_secret_fields import _archive, _unpack

RULE_TESTS = Path(__file__).resolve().parents[1] / "rules"


@pytest.fixture(scope="module")
def promtool(tmp_path_factory):
    return _unpack(_archive("prometheus"), ("promtool",), tmp_path_factory.mktemp("promtool")) / "promtool"


@pytest.mark.parametrize("test_file", sorted(p.name for p in RULE_TESTS.glob("*_test.yml")))
def test_rule_tests_pass(promtool, test_file):
    proc = subprocess.run([promtool, "test", "rules", test_file], cwd=RULE_TESTS, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def alert_cases(test_file):
    """{alertname: (firing cases, silent cases)} of one test file."""
    cases = {}
    for test in yaml.safe_load((RULE_TESTS / test_file).read_text())["tests"]:
        for case in test.get("alert_rule_test") or []:
            firing, silent = cases.setdefault(case["alertname"], (set(), set()))
            (firing if case.get("exp_alerts") else silent).add(f"{test['name']}@{case['eval_time']}")
    return cases


@pytest.mark.parametrize("test_file", sorted(p.name for p in RULE_TESTS.glob("*_test.yml")))
def test_every_alert_of_a_tested_rule_file_fires_and_stays_silent(test_file):
    """A rule file with a test file has a firing and a silent case for each of its alerts."""
    spec = yaml.safe_load((RULE_TESTS / test_file).read_text())
    alerts = {rule["alert"] for path in spec["rule_files"] for group in yaml.safe_load((RULE_TESTS / path).read_text())["groups"]
              for rule in group["rules"] if "alert" in rule}
    cases = alert_cases(test_file)
    assert not [a for a in sorted(alerts) if not cases.get(a, ((), ()))[0] or not cases[a][1]], cases
