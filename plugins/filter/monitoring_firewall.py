"""nftables rules of one host: each stack port open only to the hosts that connect to it (monitoring_firewall)."""
import ipaddress

from ansible.errors import AnsibleFilterError

from .monitoring_addresses import controller_addresses
from .monitoring_components import COMPONENTS

TABLE = "monitoring_stack"


def _value(host_vars, name, default):
    return host_vars[name] if name in host_vars else default


def _ports(host_vars, entry):
    listen = _value(host_vars, entry["port_var"], entry["port"])
    return sorted({int(str(item).rsplit(":", 1)[-1]) for item in (listen if isinstance(listen, (list, tuple)) else [listen])})


def _network(text):
    try:
        return str(ipaddress.ip_network(str(text).strip("[]"), strict=False))
    except ValueError:
        return None


def source_addresses(host, host_vars):
    """The literal addresses a client host connects from: monitoring_firewall_address (an address, a network or a
    list of them), else its monitoring_scrape_address or inventory name as the controller resolves it. Written as
    literals, the table loads at boot before DNS answers; a name the controller cannot resolve is an error here."""
    given = _value(host_vars, "monitoring_firewall_address", None)
    if given is None:
        given = _value(host_vars, "monitoring_scrape_address", host)
    addresses = []
    for item in given if isinstance(given, (list, tuple)) else [given]:
        literal = _network(item)
        resolved = [literal] if literal else [_network(a) for a in controller_addresses(str(item))]
        if not resolved:
            raise AnsibleFilterError(
                f"monitoring_firewall: the controller cannot resolve {item!r} (host {host}); set "
                f"monitoring_firewall_address for {host} to the address(es) it connects from")
        addresses += resolved
    return addresses


def _sources(groups, hostvars, clients):
    hosts = {host for group in clients for host in (groups or {}).get(group, [])}
    return sorted({a for host in hosts for a in source_addresses(host, hostvars.get(host, {}))},
                  key=lambda a: (":" in a, ipaddress.ip_network(a)))


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


def _plain(network):
    """10.0.0.5/32 as 10.0.0.5; networks as they are."""
    return network.rsplit("/", 1)[0] if network.endswith(("/32", "/128")) else network


def monitoring_firewall_ruleset(rules, operator_networks=()):
    """The nftables file: replaces only its own table (other tables and SSH stay as they are); each listed port
    accepts loopback and its sources (literal addresses: nothing to resolve at boot) and drops everything else."""
    lines = [f"# Ansible managed: the monitoring stack's own table; other tables are left alone.",
             f"table inet {TABLE}", f"delete table inet {TABLE}", f"table inet {TABLE} {{",
             "  chain input {", "    type filter hook input priority filter; policy accept;", "    iif lo accept"]
    networks = [str(net) for net in operator_networks or []]
    for rule in rules:
        allowed = list(rule["sources"]) + (networks if rule["operators"] else [])
        v4 = [_plain(a) for a in allowed if ":" not in a]
        v6 = [_plain(a) for a in allowed if ":" in a]
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
