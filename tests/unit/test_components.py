"""The component registry is the one place that knows ports: roles' logic and the tools read it."""
import re

from conftest import ROOT
from monitoring_components import COMPONENTS, monitoring_registry_jobs, monitoring_web_config_paths


def test_every_component_has_the_registry_fields_and_its_role():
    for name, entry in COMPONENTS.items():
        assert {"group", "job", "port", "port_var", "metrics_path"} <= set(entry), name
        defaults = (ROOT / f"roles/{name}/defaults/main.yml").read_text()
        assert f"{entry['port_var']}:" in defaults and str(entry["port"]) in defaults, name


def test_prometheus_jobs_come_from_the_registry():
    assert [job["job"] for job in monitoring_registry_jobs()] == ["node", "prometheus", "alertmanager", "grafana", "postgres", "redis", "victoriametrics", "blackbox"]


def test_no_port_is_hard_coded_outside_the_registry_and_the_defaults():
    ports = "|".join(str(entry["port"]) for entry in COMPONENTS.values())
    pattern = re.compile(rf"(?<![\d.]):?\b({ports})\b(?!\d)")
    offenders = []
    for path in [*ROOT.glob("roles/*/vars/*.yml"), *ROOT.glob("roles/*/tasks/*.yml"), *ROOT.glob("roles/*/templates/**/*.j2"),
                 *ROOT.glob("playbooks/*.yml"), ROOT / "tools/lab.py"]:
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if pattern.search(line) and not line.lstrip().startswith("#"):
                offenders.append(f"{path.relative_to(ROOT)}:{number}: {line.strip()}")
    assert offenders == []


def test_web_configs_read_up_front_are_those_of_the_host_components():
    assert monitoring_web_config_paths(["node_exporter", "prometheus", "grafana"], {"prometheus_config_dir": "/srv/prom"}) == [
        "/etc/node_exporter/web-config.yml", "/srv/prom/web-config.yml"]
    assert monitoring_web_config_paths(["grafana"]) == []


def test_every_component_is_validated_by_its_role_on_its_group():
    """playbooks/validate.yml runs roles/<component>/tasks/validate.yml on each host of the component's group."""
    from monitoring_components import COMPONENTS, monitoring_host_components
    for name, entry in COMPONENTS.items():
        assert (ROOT / f"roles/{name}/tasks/validate.yml").exists(), name
        assert monitoring_host_components([entry["group"]]) == [name]
    assert monitoring_host_components(["node_exporter", "prometheus", "app"]) == ["node_exporter", "prometheus"]
    assert monitoring_host_components([]) == []
