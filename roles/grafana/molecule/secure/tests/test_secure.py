"""Grafana over HTTPS with basic auth on Prometheus and Alertmanager."""
import pytest
from grafana_checks import *  # noqa: F401,F403 (the shared tests)
from grafana_checks import needs_grafana
from monitoring_testlib import get, hostvars  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def expect():
    # No application here; nothing fires.
    return {"tls": True, "auth": True,
            "empty_panels": {"Firing alerts", "Request rate by route", "Error rate (5xx share)", "Latency p50 / p95 / p99",
                             "Status codes", "Resident memory", "CPU", "Event loop lag", "Garbage collection time"}}


@needs_grafana
def test_metrics_need_credentials(grafana, ca, hostvars):
    assert get(f"{grafana}/metrics", ca=ca).status_code == 401
    assert get(f"{grafana}/metrics", ca=ca, auth=("prometheus", hostvars["test_scrape_password"])).status_code == 200


@needs_grafana
def test_alertmanager_through_grafana(grafana, ca, admin):
    answer = get(f"{grafana}/api/datasources/proxy/uid/alertmanager/api/v2/status", auth=admin, ca=ca)
    assert answer.status_code == 200 and "cluster" in answer.json()
