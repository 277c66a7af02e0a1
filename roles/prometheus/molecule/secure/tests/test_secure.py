"""Prometheus and node_exporter over HTTPS with basic auth; application job with a bearer token."""
import pytest
import requests
from monitoring_testlib import container_ip, get, hostvars, inventory_hosts, prometheus_targets, run_logs, scenario_ca  # noqa: F401 (hostvars is a fixture)

testinfra_hosts = inventory_hosts("prometheus")
CA = scenario_ca()


@pytest.fixture(scope="module")
def api(host):
    return f"https://{container_ip(host.backend.host)}:9090/api/v1"


@pytest.fixture(scope="module")
def auth(hostvars):
    return ("prometheus", hostvars["test_scrape_password"])


def test_all_targets_up_over_https(api, auth):
    targets = prometheus_targets(api, auth=auth, ca=CA)
    seen = {(t["labels"]["job"], t["scrapeUrl"].split("//")[0]) for t in targets}
    assert seen == {("prometheus", "https:"), ("node", "https:"), ("app", "http:")}
    assert len(targets) == 4
    assert all(t["health"] == "up" for t in targets), [(t["scrapeUrl"], t["lastError"]) for t in targets]
    app = [t for t in targets if t["labels"]["job"] == "app"][0]
    assert app["labels"]["app"] == "testapp"


def test_app_metrics_arrive(api, auth):
    result = get(f"{api}/query", auth=auth, ca=CA, params={"query": 'sum(http_requests_total{job="app"})'})
    assert float(result.json()["data"]["result"][0]["value"][1]) > 0


def test_credentials_required(api, auth):
    assert get(f"{api}/targets", ca=CA).status_code == 401
    assert get(f"{api}/targets", auth=("prometheus", "wrong"), ca=CA).status_code == 401
    with pytest.raises(requests.exceptions.SSLError):
        get(f"{api}/targets", auth=auth)


def test_plain_http_refused(api, auth):
    try:
        response = get(api.replace("https://", "http://") + "/targets", auth=auth)
    except requests.exceptions.ConnectionError:
        return
    assert response.status_code == 400


def test_credentials_kept_out_of_the_config(host, hostvars):
    config = host.check_output("cat /etc/prometheus/prometheus.yml")
    assert hostvars["test_scrape_password"] not in config
    assert hostvars["testapp_token"] not in config
    for name in ("job-node.password", "job-prometheus.password", "job-app.token"):
        secret = host.file(f"/etc/prometheus/secrets/{name}")
        assert (secret.user, secret.group, secret.mode) == ("root", "prometheus", 0o640), name


def test_secrets_absent_from_logs(hostvars):
    text = run_logs()
    assert "Apply the files of" in text
    for key in ("test_scrape_password", "testapp_token"):
        assert hostvars[key] not in text, key
