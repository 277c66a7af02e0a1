"""Names and addresses from the inventory and the controller's resolver: what certificates name and what the
firewall admits. A host's own facts never decide what another host trusts (stdlib only)."""
import functools
import ipaddress
import socket

# Inventory variables that tie a name or address to a host.
ADDRESS_VARS = ("ansible_host", "monitoring_scrape_address", "monitoring_firewall_address")


def literal_ip(text):
    """The address in canonical form when `text` is an IPv4 or IPv6 literal, else None."""
    try:
        return str(ipaddress.ip_address(str(text).strip().strip("[]")))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def controller_addresses(name):
    """The addresses the controller resolves `name` to (IPv4 and IPv6, sorted); () when it does not resolve."""
    ip = literal_ip(name)
    if ip:
        return (ip,)
    try:
        infos = socket.getaddrinfo(str(name), None, proto=socket.IPPROTO_TCP)
    except (OSError, UnicodeError):
        return ()
    return tuple(sorted({str(ipaddress.ip_address(info[4][0].split("%", 1)[0])) for info in infos}))


def _value(host_vars, name):
    try:
        return host_vars[name] if name in host_vars else None
    except Exception:  # noqa: BLE001 - a variable that does not template is no claim
        return None


def inventory_claims(hostvars, host):
    """(names, addresses) the inventory and the controller's resolver tie to `host`; loopback left out."""
    host_vars = hostvars[host]
    given = [host] + [str(v) for v in (_value(host_vars, name) for name in ADDRESS_VARS) if v]
    sans = [str(s) for s in _value(host_vars, "monitoring_tls_extra_sans") or []]
    names = {g.lower() for g in given if not literal_ip(g)}
    addresses = {literal_ip(s[3:]) for s in sans if s.startswith("IP:")} - {None}
    for item in given:
        addresses.update(controller_addresses(item))
    return names, {a for a in addresses if not ipaddress.ip_address(a).is_loopback}


def owners(hostvars, hosts):
    """{name or address: {hosts}} from the inventory (inventory names and literal addresses, and what the controller
    resolves them to), and {address: {hosts}} from the hosts' own facts."""
    by_inventory, by_facts = {}, {}
    for host in hosts:
        names, addresses = inventory_claims(hostvars, host)
        for item in names | addresses:
            by_inventory.setdefault(item, set()).add(host)
        facts = _value(hostvars[host], "ansible_facts") or {}
        for address in (literal_ip(x) for x in facts.get("all_ipv4_addresses") or []):
            if address:
                by_facts.setdefault(address, set()).add(host)
    return by_inventory, by_facts


def belongs_to_another(item, host, by_inventory, by_facts):
    """Whether a name or address is another host's: the inventory decides; facts only where it says nothing."""
    owned = by_inventory.get(item) or by_facts.get(item) or set()
    return bool(owned - {host})


class FilterModule:
    """Helpers only (monitoring_pki_hosts, the firewall): no filters of their own."""

    def filters(self):
        return {}
