"""The shipped production and staging inventories scrape the applications: an `app` group and its job."""
from pathlib import Path

import pytest
import yaml
from prometheus import prometheus_job_problems
from prometheus_rules import prometheus_profile_problems

ROOT = Path(__file__).resolve().parents[2]


def groups_of(hosts_file):
    """{group: [hosts]} of a YAML inventory, children resolved."""
    tree = yaml.safe_load(hosts_file.read_text())["all"]["children"]

    def members(name):
        group = tree.get(name) or {}
        return sorted(set(group.get("hosts") or {}) | {h for child in (group.get("children") or {}) for h in members(child)})
    return {name: members(name) for name in tree}


@pytest.mark.parametrize("env", ["production", "staging"])
def test_the_app_group_is_scraped_with_its_token(env):
    inventory = ROOT / "inventories" / env
    groups = groups_of(inventory / "hosts.yml")
    assert groups["app"] and set(groups["app"]) <= set(groups["node_exporter"])
    jobs = yaml.safe_load((inventory / "group_vars/prometheus.yml").read_text())["prometheus_scrape_jobs"]
    [app] = [job for job in jobs if job.get("group") == "app"]
    assert app["port"] == 3001 and app["metrics_path"] == "/metrics" and "vault_app_metrics_token" in app["bearer_token"]
    assert prometheus_job_problems(jobs, groups) == []
    # a profile: the application alerts and the HTTP dashboard read its recording rules
    assert "profile" not in app and prometheus_profile_problems({}, jobs) == []
    assert "vault_app_metrics_token" in yaml.safe_load((inventory / "group_vars/all/vault.yml.example").read_text())


@pytest.mark.parametrize("env", ["production", "staging"])
def test_every_client_has_its_own_user(env):
    """The scrape password's hash is on every exporter host: it must not open Alertmanager (silences) or be the
    user Grafana, Prometheus' alerting or amtool connect as. Every vault key the inventory names is in the example."""
    inventory = ROOT / "inventories" / env
    common = yaml.safe_load((inventory / "group_vars/all/main.yml").read_text())
    clients = {common[k] for k in ("monitoring_scrape_user", "monitoring_alertmanager_user",
                                   "monitoring_datasource_user", "monitoring_amtool_user")}
    assert len(clients) == 4
    alertmanager = yaml.safe_load((inventory / "group_vars/alertmanager.yml").read_text())["alertmanager_basic_auth_users"]
    assert common["monitoring_scrape_user"] not in alertmanager
    assert {common["monitoring_alertmanager_user"], common["monitoring_datasource_user"], common["monitoring_amtool_user"]} \
        <= set(alertmanager)
    prometheus = yaml.safe_load((inventory / "group_vars/prometheus.yml").read_text())["prometheus_basic_auth_users"]
    assert common["monitoring_datasource_user"] in prometheus
    example = yaml.safe_load((inventory / "group_vars/all/vault.yml.example").read_text())
    texts = "".join(p.read_text() for p in (inventory / "group_vars").rglob("*.yml"))
    import re
    assert set(re.findall(r"vault_[a-z_]+", texts)) <= set(example)


@pytest.mark.parametrize("env", ["production", "staging"])
def test_the_shipped_routing_passes_amtool_and_mails_warnings(env, tmp_path):
    """Slack gets everything, e-mail warnings and critical alerts (seeds 002-004), PagerDuty critical ones."""
    import re
    import subprocess
    from test_secret_fields import _archive, _unpack
    amtool = _unpack(_archive("alertmanager"), ("amtool",), tmp_path) / "amtool"
    text = re.sub(r'"\{\{ (vault_[a-z_]+) \}\}"', r'"https://example.com/\1"',
                  (ROOT / "inventories" / env / "group_vars/alertmanager.yml").read_text())
    text = text.replace('\'{{ "{{" }} .CommonLabels.alertname {{ "}}" }}\'', "'{{ .CommonLabels.alertname }}'")
    settings = yaml.safe_load(text)
    config = {"global": settings["alertmanager_global"], "route": settings["alertmanager_route"],
              "receivers": settings["alertmanager_receivers"]}
    path = tmp_path / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    check = subprocess.run([amtool, "check-config", path], capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    for severity, receivers in (("warning", "email,slack"), ("critical", "email,pagerduty,slack"), ("info", "slack")):
        routed = subprocess.run([amtool, "config", "routes", "test", "--config.file", path, f"severity={severity}"],
                                capture_output=True, text=True).stdout.strip()
        assert routed == receivers, (severity, routed)


def test_the_lab_is_quiet_and_production_keeps_the_clock_alerts():
    """make lab: containers cannot synchronise the clock they share with the machine; the lab switches the clock
    group off (after 30 minutes only the Watchdog fires), production and staging keep it."""
    node = yaml.safe_load((ROOT / "files/prometheus/rules/node.yml").read_text())
    clock = [g for g in node["groups"] if g["name"] == "node_clock"]
    assert clock and {r["alert"] for r in clock[0]["rules"]} == {"HostClockSkew", "HostClockNotSynchronising"}
    lab = yaml.safe_load((ROOT / "inventories/lab/group_vars/prometheus.yml").read_text())
    assert lab["prometheus_rule_groups_disabled"] == ["node_clock"]
    for env in ("production", "staging"):
        settings = yaml.safe_load((ROOT / "inventories" / env / "group_vars/prometheus.yml").read_text())
        assert "node_clock" not in (settings.get("prometheus_rule_groups_disabled") or [])
