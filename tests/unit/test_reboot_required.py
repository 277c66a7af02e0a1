"""node_exporter's node_reboot_required writer: the script run for real, its units, and its removal."""
import os
import shutil
import subprocess

import pytest
import yaml
from monitoring_units import monitoring_systemd_unit, monitoring_timer_units
from node_exporter import REBOOT_REQUIRED_SCRIPT, node_exporter_problems, node_exporter_reboot_required_files

from conftest import ROOT

BASE = yaml.safe_load((ROOT / "roles/monitoring_common/defaults/main.yml").read_text())["monitoring_common_unit_hardening_base"]
UNITS = {"name": "node_exporter-reboot-required", "part_of": "node_exporter", "description": "writer",
         "exec": "/usr/local/lib/node_exporter/reboot-required", "args": ["/var/lib/node_exporter/textfile"],
         "interval": "5min", "read_write_paths": ["/var/lib/node_exporter/textfile"], "hardening_base": BASE}


def spec(enabled=True):
    return {"enabled": enabled, "unit": "node_exporter-reboot-required", "script": "/usr/local/lib/node_exporter/reboot-required",
            "textfile_dir": "/var/lib/node_exporter/textfile", "units": monitoring_timer_units(UNITS)}


@pytest.mark.parametrize("flagged", [False, True])
def test_the_script_writes_the_value_whole(tmp_path, flagged):
    script, flag = tmp_path / "reboot-required", tmp_path / "reboot-required.flag"
    script.write_text(REBOOT_REQUIRED_SCRIPT)
    if flagged:
        flag.write_text("*** System restart required ***\n")
    subprocess.run(["sh", str(script), str(tmp_path), str(flag)], check=True)
    text = (tmp_path / "reboot_required.prom").read_text()
    assert text.splitlines() == ["# HELP node_reboot_required 1 while the host needs a reboot (/run/reboot-required exists).",
                                 "# TYPE node_reboot_required gauge", f"node_reboot_required {int(flagged)}"]
    assert sorted(os.listdir(tmp_path)) == sorted(["reboot-required", "reboot_required.prom"] + (["reboot-required.flag"] if flagged else []))


def test_the_writer_may_write_a_directory_another_user_owns():
    """Root without capabilities cannot write a 0755 directory of another user: the metric would stop silently."""
    service = monitoring_timer_units(dict(UNITS, capabilities=["CAP_DAC_OVERRIDE"]))["service"].splitlines()
    assert "CapabilityBoundingSet=CAP_DAC_OVERRIDE" in service and "CapabilityBoundingSet=" not in service
    assert "node_exporter_reboot_required_unit, 'part_of': 'node_exporter'" in \
        (ROOT / "roles/node_exporter/vars/main.yml").read_text() and "'capabilities': ['CAP_DAC_OVERRIDE']" in \
        (ROOT / "roles/node_exporter/vars/main.yml").read_text()


def test_units_sandbox_the_writer_and_tie_the_timer_to_node_exporter():
    units = monitoring_timer_units(UNITS)
    service = units["service"].splitlines()
    assert "Type=oneshot" in service and "ExecStart=/usr/local/lib/node_exporter/reboot-required /var/lib/node_exporter/textfile" in service
    assert {"ReadWritePaths=/var/lib/node_exporter/textfile", "ProtectSystem=strict", "PrivateNetwork=yes", "IPAddressDeny=any",
            "CapabilityBoundingSet=", "NoNewPrivileges=yes"} <= set(service)
    assert "UMask=0022" in service and "UMask=0027" not in service  # node_exporter's user must read the value
    assert not [line for line in service if line.startswith(("User=", "Restart=", "WantedBy="))]
    timer = units["timer"].splitlines()
    assert {"PartOf=node_exporter.service", "OnActiveSec=15s", "OnUnitActiveSec=5min"} <= set(timer)
    unit = monitoring_systemd_unit({"name": "node_exporter", "description": "d", "exec": "/x", "user": "u", "group": "g",
                                    "wants": ["node_exporter-reboot-required.timer"]})
    assert "Wants=network-online.target node_exporter-reboot-required.timer" in unit.splitlines()


@pytest.mark.skipif(not shutil.which("systemd-analyze"), reason="systemd-analyze is not installed on this controller")
def test_units_load_in_systemd(tmp_path):
    units = monitoring_timer_units(dict(UNITS, exec="/bin/sh", args=["-c", "true"]))
    for suffix in ("service", "timer"):
        (tmp_path / f"node_exporter-reboot-required.{suffix}").write_text(units[suffix])
    (tmp_path / "node_exporter.service").write_text("[Service]\nExecStart=/bin/true\n")
    proc = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "node_exporter-reboot-required.timer"),
                           str(tmp_path / "node_exporter-reboot-required.service")], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_switched_on_the_script_comes_before_the_units_it_runs():
    entries = node_exporter_reboot_required_files(spec())
    assert [e["path"] for e in entries] == ["/usr/local/lib/node_exporter", "/usr/local/lib/node_exporter/reboot-required",
                                            "/etc/systemd/system/node_exporter-reboot-required.service",
                                            "/etc/systemd/system/node_exporter-reboot-required.timer"]
    assert all(e.get("verify_unit") for e in entries[2:]) and entries[1]["mode"] == "0755"


def test_switched_off_the_timer_is_stopped_and_everything_it_wrote_goes():
    entries = node_exporter_reboot_required_files(spec(enabled=False))
    assert all(e["state"] == "absent" for e in entries)
    assert entries[0]["stop_unit"] == "node_exporter-reboot-required.timer"
    assert "/var/lib/node_exporter/textfile/reboot_required.prom" in [e["path"] for e in entries]


@pytest.mark.parametrize("interval, ok", [("5min", True), ("1h 30min", True), ("90", True), ("five minutes", False),
                                          ("5min\nOnCalendar=*", False), ("5min\n", False), ("", False),
                                          ("0", False), ("0s 0min", False), ("10s", True)])
def test_the_interval_is_a_time_span(interval, ok):
    found = node_exporter_problems({"listen_addresses": [":9100"], "collectors": {}, "disabled": [],
                                    "reboot_required_interval": interval}, [])
    assert (found == []) == ok
    if not ok:
        assert "node_exporter_reboot_required_interval" in found[0]
