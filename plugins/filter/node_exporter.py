"""node_exporter's command-line flags and input checks (Python: these run on every host, every run)."""
import re


def node_exporter_collector_flags(collectors, disabled=()):
    """--collector.NAME for each enabled collector, with its options: true -> --collector.NAME.OPT,
    false -> --no-collector.NAME.OPT, a value (or each value of a list) -> --collector.NAME.OPT=VALUE;
    then --no-collector.NAME for each disabled one."""
    flags = []
    for name, options in (collectors or {}).items():
        flags.append(f"--collector.{name}")
        for option, value in (options or {}).items():
            for item in value if isinstance(value, (list, tuple)) else [value]:
                if item is True:
                    flags.append(f"--collector.{name}.{option}")
                elif item is False:
                    flags.append(f"--no-collector.{name}.{option}")
                else:
                    flags.append(f"--collector.{name}.{option}={item}")
    return flags + [f"--no-collector.{name}" for name in disabled or []]


# Debian's signal: packages whose upgrade needs a reboot (kernel, libc, ...) leave /run/reboot-required, and a
# reboot clears it (/run is a tmpfs). The file is written whole, then renamed: the collector reads only *.prom.
REBOOT_REQUIRED_SCRIPT = r"""#!/bin/sh
# Ansible managed: node_reboot_required for node_exporter's textfile collector.
# Arguments: the collector's directory, and the flag file (default /run/reboot-required).
set -eu
dir=$1
value=0
if [ -e "${2:-/run/reboot-required}" ]; then value=1; fi
tmp="$dir/.reboot_required.prom.$$"
printf '# HELP node_reboot_required 1 while the host needs a reboot (/run/reboot-required exists).\n# TYPE node_reboot_required gauge\nnode_reboot_required %s\n' "$value" > "$tmp"
mv -f "$tmp" "$dir/reboot_required.prom"
"""
REBOOT_REQUIRED_PROM = "reboot_required.prom"


def node_exporter_reboot_required_files(spec):
    """monitoring_files entries of the node_reboot_required writer: its script, its oneshot service and timer
    (spec["units"], from monitoring_timer_units), or, switched off, their removal (the timer stopped first) and
    that of the value it wrote. spec: enabled, unit, script, textfile_dir, units."""
    unit_dir, unit = "/etc/systemd/system", spec["unit"]
    triggers = ["restart", "daemon-reload"]  # the restart of node_exporter starts the timer (Wants=)
    script_dir = spec["script"].rsplit("/", 1)[0]
    if not spec["enabled"]:
        return [{"path": f"{unit_dir}/{unit}.timer", "state": "absent", "stop_unit": f"{unit}.timer", "triggers": triggers},
                {"path": f"{unit_dir}/{unit}.service", "state": "absent", "triggers": triggers},
                {"path": spec["script"], "state": "absent"}, {"path": script_dir, "state": "absent"},
                {"path": f"{spec['textfile_dir']}/{REBOOT_REQUIRED_PROM}", "state": "absent"}]
    owned = {"owner": "root", "group": "root"}
    return [dict(owned, path=script_dir, state="directory", mode="0755"),
            dict(owned, path=spec["script"], content=REBOOT_REQUIRED_SCRIPT, mode="0755", triggers=triggers),
            dict(owned, path=f"{unit_dir}/{unit}.service", content=spec["units"]["service"], mode="0644",
                 verify_unit=True, triggers=triggers),
            dict(owned, path=f"{unit_dir}/{unit}.timer", content=spec["units"]["timer"], mode="0644",
                 verify_unit=True, triggers=triggers)]


class FilterModule:
    def filters(self):
        return {"node_exporter_collector_flags": node_exporter_collector_flags, "node_exporter_problems": node_exporter_problems,
                "node_exporter_reboot_required_files": node_exporter_reboot_required_files}


_TIME_SPAN = re.compile(r"^\d+(ms|s|sec|min|m|h|d|w)?( ?\d+(ms|s|sec|min|m|h|d|w))*\Z")


def node_exporter_problems(settings, known):
    """node_exporter's own input problems (the shared ones come from monitoring_common_problems)."""
    problems = []
    interval = str(settings.get("reboot_required_interval", "5min"))
    if not _TIME_SPAN.match(interval):
        problems.append(f"node_exporter_reboot_required_interval {interval!r} is not a systemd time span such as 5min or 1h")
    elif not re.search(r"[1-9]", interval):
        problems.append(f"node_exporter_reboot_required_interval {interval!r} must be longer than 0 (systemd would never repeat it)")
    if not settings["listen_addresses"]:
        problems.append('node_exporter_listen_addresses is empty; give at least one host:port such as "0.0.0.0:9100"')
    named = list(settings["collectors"] or {}) + list(settings["disabled"] or [])
    unknown = [name for name in dict.fromkeys(named) if name not in known]
    both = [name for name in settings["collectors"] or {} if name in (settings["disabled"] or [])]
    if unknown:
        problems.append("node_exporter_collectors / node_exporter_collectors_disabled: unknown collector(s) "
                        f"{', '.join(unknown)}; known: {', '.join(known)}")
    elif both:
        problems.append(f"collector(s) {', '.join(both)} are both in node_exporter_collectors and node_exporter_collectors_disabled")
    return problems
