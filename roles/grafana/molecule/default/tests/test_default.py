"""Grafana over HTTP: configuration, provisioning, dashboards against a live Prometheus, the service."""
import pytest
from grafana_checks import *  # noqa: F401,F403 (the shared tests)
from monitoring_testlib import hostvars  # noqa: F401 (fixture)


@pytest.fixture(scope="module")
def expect():
    return {"tls": False, "auth": False}
