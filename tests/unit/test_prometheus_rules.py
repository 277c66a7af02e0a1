"""Rule files as the prometheus role deploys them: thresholds, disabled groups and the metrics profiles."""
import yaml
from prometheus import prometheus_job_problems, prometheus_scrape_plan
from prometheus_rules import prometheus_profile_problems, prometheus_profile_rules, prometheus_render_rules

SOURCE = """\
thresholds: {error_ratio: 0.05, error_for: 5m, runbook_url: https://runbooks.example.com}
groups:
  - name: fast
    rules:
      - alert: Errors
        expr: job:errors:ratio > ${error_ratio}
        for: ${error_for}
        annotations: {description: "{{ $value }} over ${error_ratio}", runbook_url: "${runbook_url}/errors"}
  - name: business
    rules:
      - {alert: Drafts, expr: drafts > 1}
"""


def test_defaults_fill_the_placeholders_and_the_thresholds_key_is_removed():
    out = prometheus_render_rules({"api.yml": SOURCE})
    assert out["problems"] == []
    content = yaml.safe_load(out["files"]["api.yml"])
    assert "thresholds" not in content
    rule = content["groups"][0]["rules"][0]
    assert rule["expr"] == "job:errors:ratio > 0.05" and rule["for"] == "5m"
    # Prometheus' own templates are left alone
    assert rule["annotations"] == {"description": "{{ $value }} over 0.05", "runbook_url": "https://runbooks.example.com/errors"}


def test_the_operators_thresholds_win_and_disabled_groups_are_left_out():
    out = prometheus_render_rules({"api.yml": SOURCE}, {"error_ratio": 0.1, "error_for": "10m"}, ["business"])
    content = yaml.safe_load(out["files"]["api.yml"])
    assert [g["name"] for g in content["groups"]] == ["fast"]
    assert content["groups"][0]["rules"][0]["expr"] == "job:errors:ratio > 0.1"
    assert content["groups"][0]["rules"][0]["for"] == "10m"
    # a file left without groups is not deployed
    assert prometheus_render_rules({"api.yml": SOURCE}, {}, ["business", "fast"])["files"] == {}


def test_unknown_names_and_missing_values_are_reported_with_the_variable():
    out = prometheus_render_rules({"api.yml": SOURCE, "mine.yml": {"groups": [{"name": "x", "rules": [
        {"alert": "A", "expr": "up > ${nowhere}"}]}]}}, {"eror_ratio": 1}, ["bussiness"])
    assert out["problems"] == [
        "rule file mine.yml uses thresholds without a value: nowhere (give a default under its thresholds: key, or set "
        "them in prometheus_alert_thresholds)",
        "prometheus_alert_thresholds: no rule file has the thresholds eror_ratio (known: error_for, error_ratio, runbook_url)",
        "prometheus_rule_groups_disabled: no rule file has the groups bussiness (known: business, fast, x)"]
    assert prometheus_render_rules({"bad.yml": "groups: [\n"})["problems"][0].startswith("rule file bad.yml is not YAML")
    assert prometheus_render_rules({"bad.yml": "rules: []"})["problems"] == ["rule file bad.yml needs a list of groups"]


def test_profile_rules_normalise_names_labels_and_units():
    groups = {g["name"]: g["rules"] for g in prometheus_profile_rules(
        {"orders": {"requests": "http_requests_total", "duration": "http_request_duration_ms", "duration_unit": "ms",
                    "route_label": "endpoint", "status_label": "status"}}, "2m")["groups"]}
    assert set(groups) == {"app_profile_auto", "app_profile_prom-client", "app_profile_express-prom-bundle",
                           "app_profile_orders", "app_runtime"}
    orders = {r["record"]: r["expr"] for r in groups["app_profile_orders"]}
    assert 'rate(http_requests_total{metrics_profile="orders"}[2m])' in orders["app:http_requests:rate"]
    assert '"route", "$1", "endpoint"' in orders["app:http_requests:rate"]
    assert '"status_code", "$1", "status"' in orders["app:http_requests:rate"]
    assert orders["app:http_request_duration_seconds:p95"].startswith("histogram_quantile(0.95, ")
    assert orders["app:http_request_duration_seconds:p95"].endswith(" / 1000")
    bundle = {r["record"]: r["expr"] for r in groups["app_profile_express-prom-bundle"]}
    assert "http_request_duration_seconds_count{" in bundle["app:http_requests:rate"]
    assert not bundle["app:http_request_duration_seconds:p99"].endswith("1000")


def test_bad_profiles_and_unknown_job_profiles_are_reported_and_not_generated():
    custom = {"bad": {"requests": "http requests", "duration": "d", "duration_unit": "min", "route_label": "r",
                      "status_label": "s", "extra": 1}}
    assert prometheus_profile_problems(custom, [{"name": "shop", "profile": "prom-clinet"}]) == [
        "prometheus_app_profiles.bad: unknown keys extra; requests must be a metric name; duration_unit must be one of s, ms",
        "prometheus_scrape_jobs entry shop: profile prom-clinet is not known (leave it out to recognise the app's names; "
        "built in: prom-client, express-prom-bundle, none for a job that is no application; others go in "
        "prometheus_app_profiles)"]
    assert prometheus_profile_problems({"auto": custom["bad"]}, [])[0].startswith("prometheus_app_profiles.auto: auto is reserved")
    assert "app_profile_bad" not in [g["name"] for g in prometheus_profile_rules(custom)["groups"]]


def test_a_jobs_profile_reaches_its_targets_as_a_label():
    jobs = [{"name": "shop", "targets": ["a:3001", "b:3001"], "profile": "prom-client", "labels": {"team": "x"}},
            {"name": "node", "targets": ["c:9100"]}]
    assert prometheus_job_problems(jobs, {}) == []
    plan = prometheus_scrape_plan(jobs, None, "/s", "/etc/prometheus")
    assert plan["file_sd"]["shop"] == [{"targets": ["a:3001", "b:3001"], "labels": {"team": "x", "metrics_profile": "prom-client"}}]
    assert plan["file_sd"]["node"][0]["labels"] == {} and plan["target_count"] == 3


def test_values_from_variables_arrive_as_plain_yaml():
    """Inventory values come as Ansible's tagged str/int subclasses, which yaml.safe_dump refuses."""
    class Tagged(str):
        pass

    class TaggedInt(int):
        pass

    source = {Tagged("groups"): [{Tagged("name"): Tagged("g"), Tagged("interval"): Tagged("5s"), "limit": TaggedInt(3),
                                  "rules": [{"record": Tagged("r"), "expr": Tagged("up")}]}]}
    out = prometheus_render_rules({"mine": source})
    assert out["problems"] == [] and yaml.safe_load(out["files"]["mine"])["groups"][0]["limit"] == 3


def test_yaml_aliases_are_refused_before_they_expand():
    """458 bytes of nested aliases rendered to 25 MB (825 MiB of controller memory); one level more is ten times
    that. The file is refused by name, in well under a second, and nothing of it is rendered."""
    import time
    levels = ["a: &a [\"{{ x }}\", \"{{ x }}\", \"{{ x }}\", \"{{ x }}\", \"{{ x }}\", \"{{ x }}\", \"{{ x }}\", \"{{ x }}\"]"]
    for n in range(1, 9):
        levels.append(f"{'abcdefghij'[n]}: &{'abcdefghij'[n]} [{', '.join(['*' + 'abcdefghij'[n - 1]] * 8)}]")
    bomb = "thresholds: {x: 1}\n" + "\n".join(levels) + "\ngroups:\n  - name: g\n    rules:\n      - alert: A\n        expr: up\n" \
        "        labels: *i\n"
    start = time.monotonic()
    result = prometheus_render_rules({"bomb.yml": bomb})
    assert time.monotonic() - start < 1
    assert result["files"] == {} and result["problems"] == ["rule file bomb.yml uses YAML aliases (*name); write each rule out in full"]
