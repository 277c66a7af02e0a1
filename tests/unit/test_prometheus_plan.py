"""prometheus.yml's jobs, alerting and secret files from the inventory (roles/prometheus/filter_plugins)."""
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
    assert plan["file_sd"]["app"] == [{"targets": ["a1:3001"], "labels": {}}]
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
