"""Filters for the shared role: bcrypt hashes for exporter-toolkit web configs."""
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


class FilterModule:
    def filters(self):
        return {
            "monitoring_bcrypt_users": monitoring_bcrypt_users,
            "monitoring_systemd_quote": monitoring_systemd_quote,
            "monitoring_health_host": monitoring_health_host,
        }
