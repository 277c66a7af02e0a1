"""A component's own role and its clients derive its route path by one rule (issue #12): the role's
*_route_path (health checks, amtool) must be the path monitoring_endpoints gives Prometheus, Grafana and amtool."""
from pathlib import Path

import pytest
import yaml
from ansible.parsing.dataloader import DataLoader
from ansible.template import Templar, trust_as_template

from monitoring_endpoints import monitoring_endpoints

ROOT = Path(__file__).resolve().parents[2]

CASES = [
    ("prometheus", {"prometheus_route_prefix": "prometheus/", "prometheus_external_url": ""}, "/prometheus"),
    ("prometheus", {"prometheus_route_prefix": "", "prometheus_external_url": "https://mon.example/p/q/"}, "/p/q"),
    ("prometheus", {"prometheus_route_prefix": "/", "prometheus_external_url": ""}, ""),
    ("alertmanager", {"alertmanager_route_prefix": "am", "alertmanager_external_url": ""}, "/am"),
    ("alertmanager", {"alertmanager_route_prefix": "//am//", "alertmanager_external_url": "https://x/y"}, "/am"),
    ("grafana", {"grafana_root_url": "%(protocol)s://%(domain)s:%(http_port)s/grafana/",
                 "grafana_serve_from_sub_path": True}, "/grafana"),
    ("grafana", {"grafana_root_url": "https://x/grafana", "grafana_serve_from_sub_path": False}, ""),
]


def role_route_path(component, settings):
    expression = yaml.safe_load((ROOT / f"roles/{component}/vars/main.yml").read_text())[f"{component}_route_path"]
    return Templar(loader=DataLoader(), variables=settings).template(trust_as_template(expression))


@pytest.mark.parametrize(("component", "settings", "expected"), CASES)
def test_role_and_clients_agree_on_the_route_path(component, settings, expected):
    clients = monitoring_endpoints(["h1"], {"h1": settings}, component)[0]["path"]
    assert (role_route_path(component, settings), clients) == (expected, expected)
