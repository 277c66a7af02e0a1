"""The units are templates (roles/monitoring_common/templates/systemd) the filters fill: a golden file of every
shipped unit (tests/golden/units, compared on the hosts by molecule/apps and molecule/ha) renders from the
templates with the values its unit file holds, so the templates and the goldens cannot drift apart unseen."""
import re
from pathlib import Path

import pytest
from monitoring_units import UNIT_TEMPLATES, monitoring_systemd_unit, monitoring_timer_units

GOLDEN = Path(__file__).resolve().parents[1] / "golden/units"
SERVICES = sorted(p.name for p in GOLDEN.glob("*.service") if "reboot-required" not in p.name and "firewall" not in p.name)


def parse_hardening(text):
    """ReadWritePaths and the other directives after the "# Hardening:" line, up to the next section."""
    lines = text.splitlines()
    start = lines.index(next(line for line in lines if line.startswith("# Hardening:"))) + 1
    hardening, paths = {}, []
    for line in lines[start:]:
        if not line:
            break
        key, val = line.split("=", 1)
        if key == "ReadWritePaths":
            paths.append(val)
        else:
            hardening.setdefault(key, []).append(val)
    return paths, {k: v if len(v) > 1 else v[0] for k, v in hardening.items()}


def parse_service(text):
    """The spec a service unit was rendered from: its values read back from the file."""
    lines = text.splitlines()
    value = {k: v for k, v in (line.split("=", 1) for line in lines if "=" in line and not line.startswith(" "))}
    start = lines.index(next(line for line in lines if line.startswith("ExecStart=")))
    args = []
    for line in lines[start + 1:]:
        if not line.startswith("    "):
            break
        args.append(line.strip().rstrip(" \\").rstrip())
    paths, hardening = parse_hardening(text)
    return {"name": re.search(r"security (\S+)\.service", text).group(1), "description": value["Description"],
            "documentation": value.get("Documentation", ""), "user": value["User"], "group": value["Group"],
            "exec": value["ExecStart"].rstrip(" \\"), "args": args, "reloadable": "ExecReload" in value,
            "environment": dict(line[len("Environment="):].split("=", 1) for line in lines if line.startswith("Environment=")),
            "environment_file": value.get("EnvironmentFile", ""), "wants": value["Wants"].split()[1:],
            "read_write_paths": paths, "hardening_base": hardening}


def test_every_unit_kind_is_a_template():
    assert sorted(p.name for p in Path(UNIT_TEMPLATES).glob("*.j2")) == [
        "dropin.j2", "hardening.j2", "oneshot.j2", "service.j2", "timer.j2"]


@pytest.mark.parametrize("unit", SERVICES)
def test_every_golden_service_renders_from_the_template(unit):
    text = (GOLDEN / unit).read_text()
    assert monitoring_systemd_unit(parse_service(text)) == text


def test_the_golden_timer_and_its_oneshot_render_from_the_templates():
    service = (GOLDEN / "node_exporter-reboot-required.service").read_text()
    paths, hardening = parse_hardening(service)
    spec = {"name": "node_exporter-reboot-required", "description": "node_reboot_required for the node_exporter textfile collector",
            "exec": "/usr/local/lib/node_exporter/reboot-required", "args": ["/var/lib/node_exporter/textfile"],
            "interval": "5min", "part_of": "node_exporter", "read_write_paths": paths, "capabilities": ["CAP_DAC_OVERRIDE"],
            "hardening_base": hardening}
    units = monitoring_timer_units(spec)
    assert units == {"service": service, "timer": (GOLDEN / "node_exporter-reboot-required.timer").read_text()}


def test_a_packaged_unit_gets_a_drop_in():
    dropin = monitoring_systemd_unit({"name": "grafana", "dropin_for": "grafana-server", "reloadable": False,
                                      "hardening_base": {"NoNewPrivileges": True}, "read_write_paths": ["/var/lib/grafana"]})
    assert dropin.endswith("# Hardening added to the packaged grafana-server.service.\n[Service]\n"
                           "# Hardening: systemd-analyze security grafana.service\nReadWritePaths=/var/lib/grafana\n"
                           "NoNewPrivileges=yes\n")
