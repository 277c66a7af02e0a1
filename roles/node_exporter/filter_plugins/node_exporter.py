"""node_exporter's command-line flags and input checks (Python: these run on every host, every run)."""


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


class FilterModule:
    def filters(self):
        return {"node_exporter_collector_flags": node_exporter_collector_flags, "node_exporter_problems": node_exporter_problems}


def node_exporter_problems(settings, known):
    """node_exporter's own input problems (the shared ones come from monitoring_common_problems)."""
    problems = []
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
