"""Filters for the shared role: bcrypt hashes, unit quoting, endpoints of inventory groups, ini values."""
import json

import bcrypt
from ansible.errors import AnsibleFilterError


def monitoring_bcrypt_users(users, existing=None, cost=10):
    """Return {user: bcrypt hash}, reusing an existing hash while its password still matches.

    Re-using the hash keeps re-runs unchanged; a new password gets a new hash.
    """
    existing = existing or {}
    hashed = {}
    for user, password in (users or {}).items():
        if password is None or str(password) == "":
            raise AnsibleFilterError(f"basic auth user '{user}' has no password")
        secret = str(password).encode()
        old = existing.get(user)
        if old:
            try:
                if bcrypt.checkpw(secret, str(old).encode()):
                    hashed[user] = str(old)
                    continue
            except ValueError:
                pass  # not a bcrypt hash: replace it
        hashed[user] = bcrypt.hashpw(secret, bcrypt.gensalt(int(cost))).decode()
    return hashed


def monitoring_systemd_quote(arg):
    """Quote one command-line argument for ExecStart= (escapes, specifiers, variables)."""
    text = str(arg).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{text}"' if any(c in text for c in " \t'\"\\;") else text


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


def monitoring_endpoints(members, hostvars, component, port, port_var):
    """How clients reach each host of a component: address, port, scheme and the first basic auth user.

    A host's <component>_tls_enabled / <component>_basic_auth_users (else monitoring_*) decide scheme and
    credentials; monitoring_scrape_address overrides the inventory name; the port comes from port_var
    (a port, "host:port" or a list of them), else the component's default port.
    """
    endpoints = []
    for host in members or []:
        tls = _hostvar(hostvars, host, f"{component}_tls_enabled", _hostvar(hostvars, host, "monitoring_tls_enabled", False))
        users = _hostvar(hostvars, host, f"{component}_basic_auth_users",
                         _hostvar(hostvars, host, "monitoring_basic_auth_users", {})) or {}
        listen = _hostvar(hostvars, host, port_var, port)
        if isinstance(listen, (list, tuple)):
            listen = listen[0] if listen else port
        user, password = next(iter(users.items()), ("", ""))
        endpoints.append({
            "host": host,
            "address": _hostvar(hostvars, host, "monitoring_scrape_address", host),
            "port": int(str(listen).rsplit(":", 1)[-1]),
            "scheme": "https" if str(tls).lower() in ("true", "yes", "1") else "http",
            "username": user,
            "password": password,
        })
    return endpoints


def monitoring_ini_value(value):
    """Render a value for Grafana's ini: booleans lower case, values with # or ; in triple quotes."""
    if isinstance(value, bool):
        return "true" if value else "false"
    text = str(value)
    if '"""' in text or "\n" in text:
        raise AnsibleFilterError("ini values cannot contain triple quotes or line breaks")
    return f'"""{text}"""' if ("#" in text or ";" in text) else text


_DURATION_UNITS = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800, "y": 31536000}


def monitoring_duration_seconds(text):
    """Seconds in a Prometheus duration such as "1h30m" or "15s"."""
    import re
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise AnsibleFilterError(f"'{text}' is not a duration such as 15s or 1h30m")
    return sum(int(n) * _DURATION_UNITS[u] for n, u in parts)


def monitoring_json_problem(text):
    """'' when text is a JSON object, else the parse error (for readable validation messages)."""
    try:
        value = json.loads(text)
    except ValueError as err:
        return str(err)
    return "" if isinstance(value, dict) else "not a JSON object"


class FilterModule:
    def filters(self):
        return {
            "monitoring_bcrypt_users": monitoring_bcrypt_users,
            "monitoring_systemd_quote": monitoring_systemd_quote,
            "monitoring_health_host": monitoring_health_host,
            "monitoring_endpoints": monitoring_endpoints,
            "monitoring_ini_value": monitoring_ini_value,
            "monitoring_json_problem": monitoring_json_problem,
            "monitoring_duration_seconds": monitoring_duration_seconds,
        }
