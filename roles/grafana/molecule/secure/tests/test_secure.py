"""Grafana over HTTPS with basic auth on Prometheus and Alertmanager."""
import pytest
from grafana_checks import *  # noqa: F401,F403 (the shared tests)
from grafana_checks import needs_grafana, scrape_password
from monitoring_testlib import get, hostvars, scenario_ca, wait_for  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def expect():
    return {"tls": True, "auth": True, "prefix": {"prometheus": "/prometheus", "alertmanager": "/alertmanager"}}


@needs_grafana
def test_metrics_need_credentials(grafana, ca, hostvars):
    assert get(f"{grafana}/metrics", ca=ca).status_code == 401
    assert get(f"{grafana}/metrics", ca=ca, auth=(b"prometheus", scrape_password(hostvars).encode("utf-8"))).status_code == 200


@needs_grafana
def test_alertmanager_through_grafana(grafana, ca, admin):
    answer = get(f"{grafana}/api/datasources/proxy/uid/alertmanager/api/v2/status", auth=admin, ca=ca)
    assert answer.status_code == 200 and "cluster" in answer.json()


def test_a_dollar_in_the_datasource_password_is_escaped(host, hostvars):
    """Grafana expands $ in provisioning files: the password must arrive as written."""
    import yaml
    password = scrape_password(hostvars)
    assert "$" in password and "{{" in password and "ü" in password
    provisioned = yaml.safe_load(host.file("/etc/grafana/provisioning/datasources/monitoring.yml").content_string)
    secure = {ds["name"]: ds.get("secureJsonData", {}) for ds in provisioned["datasources"]}
    assert secure["Prometheus"]["basicAuthPassword"] == password.replace("$", "$$")
    assert host.file("/etc/grafana/provisioning/datasources/monitoring.yml").mode == 0o640


def test_prefixes_reach_every_client(prometheus_api):
    """Prometheus scrapes itself and Alertmanager under their paths and sends alerts under Alertmanager's."""
    api, auth = prometheus_api
    targets = wait_for(lambda: (lambda t: t if {x["labels"]["job"] for x in t if x["health"] == "up"} >= {"prometheus", "alertmanager"}
                                else None)(get(f"{api}/targets", auth=auth, ca=scenario_ca()).json()["data"]["activeTargets"]),
                       60, message="prometheus and alertmanager jobs up under their prefixes")
    urls = {t["labels"]["job"]: t["scrapeUrl"] for t in targets}
    assert urls["prometheus"].endswith(":9090/prometheus/metrics") and urls["alertmanager"].endswith(":9093/alertmanager/metrics")
    active = get(f"{api}/alertmanagers", auth=auth, ca=scenario_ca()).json()["data"]["activeAlertmanagers"]
    assert [a["url"].split(":9093", 1)[1] for a in active] == ["/alertmanager/api/v2/alerts"]
