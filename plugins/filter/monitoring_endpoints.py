"""Filters that find the stack's endpoints in the inventory: each member's address, port, route path and client
user by the rule its own role uses (one rule for the role and its clients), the health check's address, the
certificate names and the cluster peers. Only the inventory decides (a host's facts never name another's)."""
import re
from urllib.parse import urlsplit

from ansible.errors import AnsibleFilterError
from .monitoring_addresses import belongs_to_another, literal_ip, owners
from .monitoring_components import COMPONENTS

def _truthy(value):
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


def _client_user(users, name, where):
    """(user, password) a client authenticates with: `name` from users, or the first user when name is empty."""
    users = users or {}
    if not name:
        return next(iter(users.items()), ("", ""))
    if name not in users:
        raise AnsibleFilterError(f"{where}: no basic auth user '{name}' (users there: {', '.join(users) or 'none'})")
    return name, users[name]


def monitoring_single_user(users, preferred=""):
    """{user: password} of the one user a daemon with a single basic auth login accepts (redis_exporter,
    VictoriaMetrics): `preferred` (the client's user, e.g. monitoring_scrape_user) when it is there, else the first."""
    users = users or {}
    name = preferred if preferred in users else next(iter(users), "")
    return {name: users[name]} if name else {}


def monitoring_health_host(listen_address):
    """Address a local client uses to reach a listener ("0.0.0.0:9100" -> "127.0.0.1")."""
    host = str(listen_address).rsplit(":", 1)[0]
    if host in ("", "0.0.0.0"):
        return "127.0.0.1"
    if host in ("[::]", "::"):
        return "[::1]"
    return host


def _hostvar(hostvars, host, name, default):
    host_vars = hostvars[host]
    return host_vars[name] if name in host_vars else default


def monitoring_route_path(component, prefix="", external_url="", serve_from_sub_path=False):
    """The path a component serves under ("" = /, else "/a/b"): the one rule its own role (health checks, amtool)
    and every client (scrapes, alerting, datasources) use. Prometheus, Alertmanager: the route prefix, else the
    external URL's path (as they default it). Grafana: its root_url's path, only when it serves from that sub path
    (pass root_url as external_url)."""
    if component == "grafana":
        if not _truthy(serve_from_sub_path):
            return ""
        # root_url may use Grafana's %(protocol)s / %(domain)s / %(http_port)s.
        path = urlsplit(re.sub(r"%\(\w+\)s", "x", str(external_url or ""))).path
    else:
        path = prefix or urlsplit(str(external_url or "")).path
    return "/" + str(path).strip("/") if str(path).strip("/") else ""


def _route_path(hostvars, host, component):
    """monitoring_route_path of another host, from its inventory variables."""
    if component == "grafana":
        return monitoring_route_path(component, "", _hostvar(hostvars, host, "grafana_root_url", ""),
                                     _hostvar(hostvars, host, "grafana_serve_from_sub_path", False))
    return monitoring_route_path(component, _hostvar(hostvars, host, f"{component}_route_prefix", ""),
                                 _hostvar(hostvars, host, f"{component}_external_url", ""))


def monitoring_endpoints(members, hostvars, component, port=None, port_var=None, user="", user_var=""):
    """How clients reach each host of a component: address, port, scheme and the basic auth user `user` (set by
    the client's variable `user_var`; empty: the host's first user).

    Hosts with <component>_configure_only (installed as configuration only, not running) are left out.
    A host's <component>_tls_enabled / <component>_basic_auth_users (else monitoring_*) decide scheme and
    credentials; monitoring_scrape_address overrides the inventory name; the port comes from port_var
    (a port, "host:port" or a list of them), else the component's default port (both from the registry,
    monitoring_components.py, unless given); path is the route prefix every client prepends (scrapes, alerting,
    datasources).
    """
    entry = COMPONENTS.get(component, {})
    port = port if port is not None else entry["port"]
    port_var = port_var or entry["port_var"]
    endpoints = []
    for host in members or []:
        # A component that does not run by design (grafana_configure_only) is no target: it would be down.
        if _truthy(_hostvar(hostvars, host, f"{component}_configure_only", False)):
            continue
        tls = _hostvar(hostvars, host, f"{component}_tls_enabled", _hostvar(hostvars, host, "monitoring_tls_enabled", False))
        users = _hostvar(hostvars, host, f"{component}_basic_auth_users",
                         _hostvar(hostvars, host, "monitoring_basic_auth_users", {})) or {}
        listen = _hostvar(hostvars, host, port_var, port)
        if isinstance(listen, (list, tuple)):
            listen = listen[0] if listen else port
        # No users there: the endpoint takes no credentials, whichever user the client names.
        name, password = _client_user(users, user, f"{user_var or 'the client user'} names a user {host}'s "
                                                   f"{component}_basic_auth_users lacks") if users else ("", "")
        endpoints.append({
            "host": host,
            "address": _hostvar(hostvars, host, "monitoring_scrape_address", host),
            "port": int(str(listen).rsplit(":", 1)[-1]),
            "scheme": "https" if str(tls).lower() in ("true", "yes", "1") else "http",
            "username": name,
            "password": password,
            "path": _route_path(hostvars, host, component),
        })
    return endpoints


def monitoring_pki_hosts(members, hostvars, inventory_hosts=None):
    """[{name, sans}] for monitoring_pki, from inventory data: the inventory name, localhost, 127.0.0.1,
    monitoring_scrape_address and monitoring_tls_extra_sans; then the IPv4 addresses the host's facts report (gossip
    advertises one), except any that belongs to another inventory host (its inventory data, what the controller
    resolves its names to, or its own facts). A host's facts never put a name into its certificate."""
    inventory_hosts = list(inventory_hosts if inventory_hosts is not None else hostvars)
    by_inventory, by_facts = owners(hostvars, inventory_hosts)
    hosts = []
    for host in members or []:
        given = [str(host), str(_hostvar(hostvars, host, "monitoring_scrape_address", host))]
        sans = [f"IP:{literal_ip(n)}" if literal_ip(n) else f"DNS:{n}" for n in given]
        sans += ["DNS:localhost", "IP:127.0.0.1"]
        sans += [str(s) for s in _hostvar(hostvars, host, "monitoring_tls_extra_sans", []) or []]
        facts = _hostvar(hostvars, host, "ansible_facts", {}) or {}
        sans += [f"IP:{a}" for a in (literal_ip(x) for x in facts.get("all_ipv4_addresses") or []) if a]
        kept = [s for s in dict.fromkeys(sans) if s in ("DNS:localhost", "IP:127.0.0.1") or not belongs_to_another(
            s[4:].lower() if s.startswith("DNS:") else literal_ip(s[3:]) or s, host, by_inventory, by_facts)]
        hosts.append({"name": host, "sans": kept})
    return hosts


def monitoring_peer_address(host, hostvars, port_var, default_port):
    """host:port another host reaches `host` at, from inventory data only (monitoring_scrape_address, else the
    inventory name): no facts, so the result is the same whether or not `host` is in the play."""
    return f"{_hostvar(hostvars, host, 'monitoring_scrape_address', host)}:{_hostvar(hostvars, host, port_var, default_port)}"


class FilterModule:
    def filters(self):
        return {
            "monitoring_health_host": monitoring_health_host,
            "monitoring_endpoints": monitoring_endpoints,
            "monitoring_route_path": monitoring_route_path,
            "monitoring_pki_hosts": monitoring_pki_hosts,
            "monitoring_client_user": lambda users, name="", where="": list(_client_user(users, name, where)),
            "monitoring_single_user": monitoring_single_user,
            "monitoring_peer_address": monitoring_peer_address,
        }
