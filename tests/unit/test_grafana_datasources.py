"""Grafana's datasources from the inventory's endpoints (plugins/filter/grafana.py)."""
from grafana import grafana_inventory_datasources


def endpoint(host, scheme="https", user="grafana", password="Ds-pw-1", path=""):
    return {"host": host, "address": host, "port": 9090, "scheme": scheme, "username": user, "password": password, "path": path}


def test_one_prometheus_is_the_default_with_ca_and_credentials_in_secure_data():
    [prom, am] = grafana_inventory_datasources([endpoint("p1", path="/prometheus")],
                                               [dict(endpoint("a1"), port=9093), dict(endpoint("a2"), port=9093)],
                                               {"p1": {"prometheus_scrape_interval": "5s"}}, "CA-PEM")
    assert (prom["name"], prom["uid"], prom["isDefault"], prom["url"]) == ("Prometheus", "prometheus", True, "https://p1:9090/prometheus")
    assert prom["jsonData"] == {"httpMethod": "POST", "timeInterval": "5s", "tlsAuthWithCACert": True}
    assert prom["secureJsonData"] == {"tlsCACert": "CA-PEM", "basicAuthPassword": "Ds-pw-1"} and prom["basicAuthUser"] == "grafana"
    assert (am["uid"], am["url"]) == ("alertmanager", "https://a1:9093")  # the first Alertmanager only


def test_several_prometheus_get_one_datasource_each_and_a_url_needs_no_host():
    first, second = grafana_inventory_datasources([endpoint("p1", "http", "", ""), endpoint("p.2", "http", "", "")], [])
    assert (first["uid"], first["isDefault"], second["uid"], second["isDefault"]) == ("prometheus-p1", True, "prometheus-p-2", False)
    assert "secureJsonData" not in first and "basicAuth" not in first
    [given] = grafana_inventory_datasources([{"url": "https://prom.example.com"}], [], {}, "")
    assert given["url"] == "https://prom.example.com" and given["jsonData"]["timeInterval"] == "15s"


def test_file_entries_create_each_dashboard_folder_before_its_dashboards():
    from grafana import grafana_file_entries, grafana_secret_entries
    dirs = {"config": "/etc/g", "provisioning": "/etc/g/provisioning", "data": "/var/lib/g", "logs": "/var/log/g",
            "plugins": "/var/lib/g/plugins", "dashboards": "/var/lib/g/dashboards"}
    entries = grafana_file_entries(dirs, {"content": "[server]\n", "validate": "check %s"}, False, "providers: []\n",
                                   [{"dest": "Team/a.json", "content": "{}"}, {"dest": "top.json", "content": "[]"}])
    paths = [e["path"] for e in entries]
    assert paths.index("/var/lib/g/dashboards/Team") < paths.index("/var/lib/g/dashboards/Team/a.json")
    assert {e["path"]: e.get("content") for e in entries}["/var/lib/g/dashboards/top.json"] == "[]"
    assert {"path": "/etc/g/ldap.toml", "state": "absent", "triggers": ["restart"]} in entries
    secrets = grafana_secret_entries({"admin_password": "Adm-1"}, "/etc/g/secrets", "/etc/g/provisioning",
                                     [{"path": "/etc/g/provisioning/datasources/monitoring.yml", "content": "x", "triggers": ["datasources"]}])
    assert all(e["diff"] is False and e["group"] == "grafana" for e in secrets)
    assert secrets[4]["content"] == "Adm-1" and secrets[4]["triggers"] == ["restart"] and secrets[-1]["triggers"] == ["datasources"]


def test_dashboards_are_read_once_and_each_problem_is_named():
    from grafana import grafana_dashboards
    sources = [{"src": f"/d/{p}", "path": p} for p in ("Team/a.json", "b.json", "c.json", "d.json", "e.json", "X/Y/f.json")]
    texts = ['{"uid": "same"}', '{"uid": "same"}', '{"uid": ', "[1]", '{"title": "no uid"}', '{"uid": "f"}']
    result = grafana_dashboards(sources, texts)
    assert [(f["dest"], f["uid"], f["content"]) for f in result["files"]][:2] == [("Team/a.json", "same", texts[0]),
                                                                               ("b.json", "same", texts[1])]
    assert result["problems"][0].startswith("c.json: Expecting")
    assert result["problems"][1:] == ["d.json: not a JSON object", "e.json: no uid",
                                      "X/Y/f.json: folders are one directory level deep (Folder/dashboard.json)",
                                      "uid same appears twice (Team/a.json, b.json)"]
    assert grafana_dashboards(sources[:1], texts[:1])["problems"] == []


def test_each_secret_file_is_named_once_for_the_file_and_its_reference():
    from grafana import grafana_secret_files
    secrets = grafana_secret_files({"admin_password": "Adm-1", "smtp_password": ""}, "/etc/g/secrets")
    assert secrets["files"] == {"admin_password": "Adm-1"}  # an empty value writes no file
    assert secrets["ref"] == {"admin_password": "$__file{/etc/g/secrets/admin_password}",
                              "smtp_password": "$__file{/etc/g/secrets/smtp_password}"}


def test_the_central_store_is_the_default_and_the_replicas_stay_reachable():
    central = dict(endpoint("vm1"), port=8428)
    sources = grafana_inventory_datasources([endpoint("p1"), endpoint("p2")], [], {}, "CA", [central])
    assert [(d["uid"], d["isDefault"]) for d in sources] == [("central", True), ("prometheus-p1", False), ("prometheus-p2", False)]
    assert sources[0]["url"] == "https://vm1:8428" and sources[0]["type"] == "prometheus"


def test_ini_extra_settings_that_clash_or_hold_a_secret_in_clear_are_named():
    from grafana import grafana_ini_extra_keys
    extra = {"server": {"http_port": 3001, "enable_gzip": True}, "smtp": {"password": "pw", "host": "m:25"},
             "database": {"password": "$__file{/etc/db}"}, "auth.github": {"client_secret": "s", "api_key": ""},
             "loose": "not a section"}
    assert grafana_ini_extra_keys(extra, {"server": {"http_port": 3000}, "smtp": {}}) == ["server.http_port"]
    assert grafana_ini_extra_keys(extra, secrets=True) == ["smtp.password", "auth.github.client_secret"]


def test_application_panels_link_to_the_logs_with_the_time_range_and_series():
    """Seeds 002/003 correlate metrics with logs: with grafana_log_search_url every panel of the Applications folder
    links to it ({from} {to} {job} {route} become Grafana's variables); other folders and an empty URL get none."""
    import json
    from grafana import grafana_dashboards
    board = {"uid": "a", "panels": [{"type": "row"}, {"type": "timeseries", "targets": [{"expr": "x"}]}]}
    sources = [{"src": "/d/Applications/a.json", "path": "Applications/a.json"}, {"src": "/d/Hosts/h.json", "path": "Hosts/h.json"}]
    texts = [json.dumps(board), json.dumps(dict(board, uid="h"))]
    url = "https://logs.example.com/search?from={from}&to={to}&q=app:{job}%20route:{route}"
    result = grafana_dashboards(sources, texts, url)
    assert result["problems"] == []
    apps, hosts = (json.loads(f["content"]) for f in result["files"])
    [link] = apps["panels"][1]["fieldConfig"]["defaults"]["links"]
    assert link["url"] == ("https://logs.example.com/search?from=${__from:date:iso}&to=${__to:date:iso}"
                           "&q=app:${__field.labels.job}%20route:${__field.labels.route}") and link["targetBlank"]
    assert "fieldConfig" not in apps["panels"][0] and "fieldConfig" not in hosts["panels"][1]
    assert grafana_dashboards(sources, texts)["files"][0]["content"] == texts[0]
    assert grafana_dashboards(sources, texts, "https://x/{host}")["problems"] == [
        "grafana_log_search_url: unknown placeholders host (known: from, to, job, route)"]
