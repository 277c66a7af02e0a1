"""nftables rules of one host: each stack port open only to the hosts that connect to it (monitoring_firewall)."""
import os
import sys

sys.path.insert(0, os.path.dirname(__file__))
from monitoring_components import COMPONENTS  # noqa: E402

TABLE = "monitoring_stack"


def _value(host_vars, name, default):
    return host_vars[name] if name in host_vars else default


def _ports(host_vars, entry):
    listen = _value(host_vars, entry["port_var"], entry["port"])
    return sorted({int(str(item).rsplit(":", 1)[-1]) for item in (listen if isinstance(listen, (list, tuple)) else [listen])})


def _sources(groups, hostvars, clients):
    hosts = {host for group in clients for host in (groups or {}).get(group, [])}
    return sorted(str(_value(hostvars.get(host, {}), "monitoring_firewall_address",
                             _value(hostvars.get(host, {}), "monitoring_scrape_address", host))) for host in hosts)


def monitoring_firewall_ports(host, groups, hostvars):
    """[{component, port, proto, sources, operators}] of the stack ports `host` serves (by its inventory groups)."""
    host_vars = hostvars.get(host, {})
    member_of = {group for group, members in (groups or {}).items() if host in members}
    rules = []
    for name, entry in COMPONENTS.items():
        if entry["group"] not in member_of or not entry.get("clients"):
            continue
        sources = _sources(groups, hostvars, entry["clients"])
        rules += [{"component": name, "port": port, "proto": "tcp", "sources": sources,
                   "operators": bool(entry.get("operators"))} for port in _ports(host_vars, entry)]
        if name == "alertmanager" and len(groups.get(_value(host_vars, "alertmanager_cluster_group", "alertmanager")) or []) > 1:
            port = int(_value(host_vars, "alertmanager_cluster_port", 9094))
            peers = _sources(groups, hostvars, [_value(host_vars, "alertmanager_cluster_group", "alertmanager")])
            rules += [{"component": "alertmanager gossip", "port": port, "proto": proto, "sources": peers, "operators": False}
                      for proto in ("tcp", "udp")]
    return rules


def monitoring_firewall_ruleset(rules, operator_networks=()):
    """The nftables file: replaces only its own table (other tables and SSH stay as they are); each listed port
    accepts loopback and its sources (names resolve when nft loads the file) and drops everything else."""
    lines = [f"# Ansible managed: the monitoring stack's own table; other tables are left alone.",
             f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{",
             "  chain input {", "    type filter hook input priority filter; policy accept;", "    iif lo accept"]
    networks = [str(net) for net in operator_networks or []]
    for rule in rules:
        allowed = list(rule["sources"]) + (networks if rule["operators"] else [])
        v4 = [a for a in allowed if ":" not in a]
        v6 = [a for a in allowed if ":" in a]
        match = f"{rule['proto']} dport {rule['port']}"
        lines.append(f"    # {rule['component']}")
        if v4:
            lines.append(f"    {match} ip saddr {{ {', '.join(v4)} }} accept")
        if v6:
            lines.append(f"    {match} ip6 saddr {{ {', '.join(v6)} }} accept")
        lines.append(f"    {match} drop")
    lines += ["  }", "}"]
    return "\n".join(lines) + "\n"


class FilterModule:
    def filters(self):
        return {"monitoring_firewall_ports": monitoring_firewall_ports, "monitoring_firewall_ruleset": monitoring_firewall_ruleset}
