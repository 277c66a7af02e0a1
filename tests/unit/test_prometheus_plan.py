"""prometheus.yml's jobs, alerting and secret files from the inventory (plugins/filter/prometheus.py)."""
from prometheus import prometheus_inventory_endpoints, prometheus_jobs, prometheus_scrape_plan

GROUPS = {"node_exporter": ["n1", "n2"], "alertmanager": ["am1"], "app": ["a1"], "grafana": []}
HOSTVARS = {"n1": {"monitoring_tls_enabled": True, "monitoring_basic_auth_users": {"prometheus": "Pw-p1", "health": "h1"}},
            "n2": {"monitoring_scrape_address": "10.0.0.2"},
            "am1": {"monitoring_basic_auth_users": {"prometheus": "Pw-p1", "alerts": "a1"}, "alertmanager_route_prefix": "/am/"},
            "a1": {}}
JOBS = [{"job": "node", "group": "node_exporter", "component": "node_exporter", "port": 9100,
         "port_var": "node_exporter_listen_addresses", "metrics_path": "/metrics"},
        {"job": "alertmanager", "group": "alertmanager", "component": "alertmanager", "port": 9093,
         "port_var": "alertmanager_listen_address", "metrics_path": "/metrics"},
        {"job": "grafana", "group": "grafana", "component": "grafana", "port": 3000, "port_var": "grafana_http_port"}]


def endpoints():
    return prometheus_inventory_endpoints(JOBS, GROUPS, HOSTVARS, "prometheus", "alerts")


def test_inventory_endpoints_use_the_first_host_and_the_clients_user():
    found = endpoints()
    assert set(found) == {"node", "alertmanager"}  # a group without hosts gets no job
    assert found["node"] == {"scheme": "https", "username": "prometheus", "password": "Pw-p1", "path": "",
                             "metrics_path": "/metrics", "targets": ["n1:9100", "10.0.0.2:9100"]}
    assert (found["alertmanager"]["username"], found["alertmanager"]["path"]) == ("alerts", "/am")


def test_every_secret_file_is_named_once_and_referenced_by_its_job():
    jobs = prometheus_jobs(endpoints(), [{"name": "app", "group": "app", "port": 3001, "bearer_token": "Tok-9e1"},
                                         {"name": "legacy", "targets": ["x:1"], "authorization": {"type": "Token", "credentials": "c"}}],
                           [], GROUPS, HOSTVARS)
    plan = prometheus_scrape_plan(jobs, endpoints()["alertmanager"], "/etc/p/secrets", "/etc/p", "/etc/p/tls/ca.crt")
    assert plan["secrets"] == {"job-node.password": "Pw-p1", "job-alertmanager.password": "a1", "job-app.token": "Tok-9e1",
                               "job-legacy.token": "c", "alertmanager.password": "a1"}
    scrape = {s["job_name"]: s for s in plan["scrape_configs"]}
    assert scrape["node"]["basic_auth"] == {"username": "prometheus", "password_file": "/etc/p/secrets/job-node.password"}
    assert scrape["node"]["tls_config"] == {"ca_file": "/etc/p/tls/ca.crt"} and "tls_config" not in scrape["app"]
    assert scrape["app"]["authorization"] == {"type": "Bearer", "credentials_file": "/etc/p/secrets/job-app.token"}
    assert scrape["legacy"]["authorization"]["type"] == "Token"
    assert scrape["alertmanager"]["metrics_path"] == "/am/metrics"
    # An application job without a profile has its names recognised ("auto"); the inventory's jobs get no label.
    assert plan["file_sd"]["app"] == [{"targets": ["a1:3001"], "labels": {"metrics_profile": "auto"}}]
    assert plan["file_sd"]["node"] == [{"targets": ["n1:9100", "10.0.0.2:9100"], "labels": {}}]
    none = prometheus_jobs({}, [{"name": "other", "targets": ["x:1"], "profile": "none"}], [], GROUPS, HOSTVARS)
    assert prometheus_scrape_plan(none, None, "/s", "/c")["file_sd"]["other"][0]["labels"] == {}
    [am] = plan["alertmanagers"]
    assert am == {"scheme": "http", "static_configs": [{"targets": ["am1:9093"]}], "path_prefix": "/am",
                  "basic_auth": {"username": "alerts", "password_file": "/etc/p/secrets/alertmanager.password"}}
    assert not any("Pw-p1" in str(s) or "Tok-9e1" in str(s) for s in plan["scrape_configs"] + plan["alertmanagers"])


def test_no_alertmanager_no_alerting():
    assert prometheus_scrape_plan([], None, "/s", "/c")["alertmanagers"] == []


def test_secret_entries_are_group_readable_files_never_diffed():
    from monitoring_secrets import monitoring_secret_entries
    directory, entry = monitoring_secret_entries({"job-node.password": "Pw-p1"}, "/etc/p/secrets", "prometheus")
    assert directory == {"path": "/etc/p/secrets", "state": "directory", "owner": "root", "group": "prometheus", "mode": "0750"}
    assert entry == {"path": "/etc/p/secrets/job-node.password", "content": "Pw-p1", "owner": "root", "group": "prometheus",
                     "mode": "0640", "diff": False, "triggers": ["reload"]}


def test_file_entries_check_each_rule_file_and_fragment_and_write_targets_as_yaml():
    from prometheus import prometheus_file_entries
    checks = {"script": "/usr/local/sbin/check", "script_content": "#!/bin/sh\n", "rules": "promtool check rules %s",
              "fragment": "/usr/local/sbin/check %s"}
    entries = {e["path"]: e for e in prometheus_file_entries("/etc/p", "/var/lib/p", {"node.yml": "groups: []\n"},
                                                             {"team.yml": "scrape_configs: []\n"},
                                                             {"node": [{"targets": ["n1:9100"], "labels": {}}]}, checks)}
    assert entries["/etc/p/rules/node.yml"]["validate"] == "promtool check rules %s"
    assert entries["/etc/p/scrape_configs/team.yml"]["validate"] == "/usr/local/sbin/check %s"
    assert entries["/etc/p/file_sd/node.yml"]["content"] == "- labels: {}\n  targets:\n  - n1:9100\n"
    assert "triggers" not in entries["/etc/p/file_sd/node.yml"]  # Prometheus re-reads file_sd itself
    assert entries["/var/lib/p"]["owner"] == "prometheus" and entries["/usr/local/sbin/check"]["mode"] == "0755"


def test_alertmanager_entries_put_templates_before_what_reads_them():
    from alertmanager import alertmanager_file_entries
    config = {"path": "/etc/am/alertmanager.yml", "content": "route: {}\n", "validate": "amtool check-config %s"}
    entries = alertmanager_file_entries("/etc/am", "/var/lib/am", "/etc/am/secrets", {"slack.tmpl": "{{ define }}"}, [config])
    assert [e["path"] for e in entries] == ["/var/lib/am", "/etc/am/templates", "/etc/am/secrets", "/etc/am/templates/slack.tmpl",
                                            "/etc/am/alertmanager.yml"]
    assert entries[3]["triggers"] == ["reload"] and entries[3]["group"] == "alertmanager" and entries[-1] == config


def test_replicas_write_the_same_series_to_the_central_store_and_send_the_same_alerts():
    from prometheus import prometheus_central_remote_write
    central = {"host": "vm1", "address": "vm1", "port": 8428, "scheme": "https", "username": "prometheus",
               "password": "Pw-p1", "path": ""}
    [entry] = prometheus_central_remote_write([central], "/etc/p/tls/ca.crt", {"max_shards": 10}, ["replica"])
    assert entry["url"] == "https://vm1:8428/api/v1/write" and entry["tls_config"] == {"ca_file": "/etc/p/tls/ca.crt"}
    assert entry["write_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
    assert entry["queue_config"] == {"max_shards": 10} and entry["basic_auth"]["username"] == "prometheus"
    plan = prometheus_scrape_plan([], endpoints()["alertmanager"], "/s", "/c", "", ["replica"])
    assert plan["alerting"]["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
    assert "alert_relabel_configs" not in prometheus_scrape_plan([], endpoints()["alertmanager"], "/s", "/c")["alerting"]


def test_a_job_names_its_user_by_variable():
    jobs = [dict(JOBS[0], user_var="team_scrape_user")]
    assert prometheus_inventory_endpoints(jobs, GROUPS, HOSTVARS, "prometheus", "alerts",
                                          {"team_scrape_user": "health"})["node"]["username"] == "health"


def test_the_watchdog_gets_its_own_first_route_and_slack_the_seeds_text():
    from alertmanager import SLACK_TEXT, alertmanager_notification_config
    route = {"receiver": "team", "routes": [{"matchers": ['severity="critical"'], "receiver": "pager"}]}
    receivers = [{"name": "team", "slack_configs": [{"api_url": "u"}, {"api_url": "v", "text": "mine"}]}, {"name": "pager"}]
    out = alertmanager_notification_config(route, receivers, {"enabled": True, "receiver": "", "repeat_interval": "2m"})
    watchdog = out["route"]["routes"][0]
    assert watchdog["matchers"] == ['alertname="Watchdog"'] and watchdog["receiver"] == "watchdog-null"
    assert watchdog["repeat_interval"] == "2m" and out["route"]["routes"][1]["receiver"] == "pager"
    assert out["receivers"][-1] == {"name": "watchdog-null"}  # no integrations: shown in Alertmanager only
    assert [c["text"] for c in out["receivers"][0]["slack_configs"]] == [SLACK_TEXT, "mine"]
    assert "summary" in SLACK_TEXT and "description" in SLACK_TEXT
    # to a dead man's switch of the operator's; or not at all; the caller's data is left as it was
    out = alertmanager_notification_config(route, receivers, {"enabled": True, "receiver": "pager"}, slack_text=False)
    assert out["route"]["routes"][0]["receiver"] == "pager" and len(out["receivers"]) == 2
    assert "text" not in out["receivers"][0]["slack_configs"][0]
    assert alertmanager_notification_config(route, receivers, {"enabled": False})["route"] == route
    assert len(route["routes"]) == 1 and "text" not in receivers[0]["slack_configs"][0]
