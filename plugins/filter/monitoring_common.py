"""Filters for the shared role: bcrypt hashes and the web config, the checks every component shares, the release
and the deploy plan (one module run per component and host), ini values, durations, file entries. Units are in
monitoring_units.py, endpoints in monitoring_endpoints.py. Files every host gets are rendered here, in Python: a
template lookup per host and run costs more controller time than the module run that writes the file."""
import base64
import os
import re

import bcrypt
import yaml
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import to_nice_yaml
from .monitoring_endpoints import _client_user, _truthy, monitoring_health_host
from .monitoring_units import (
    _CONTROL, HARDENING_KEYS, MANAGED, monitoring_environment_file, monitoring_systemd_unit)


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


def monitoring_web_config(spec):
    """exporter-toolkit web config: TLS (server certificate), HTTP headers, bcrypt users.

    spec: tls_dir, tls (bool), min_version, headers, rate_limit ({interval, burst} or {}),
    users ({user: password}),
    current (base64 content of the file on the host, to keep hashes whose password still matches), cost.
    """
    config = {}
    if spec.get("tls"):
        tls_dir = spec["tls_dir"]
        tls = {"cert_file": f"{tls_dir}/server.crt", "key_file": f"{tls_dir}/server.key", "min_version": spec["min_version"]}
        config["tls_server_config"] = tls
    if spec.get("headers"):
        config["http_server_config"] = {"headers": dict(spec["headers"])}
    if spec.get("rate_limit"):
        config["rate_limit"] = {"interval": str(spec["rate_limit"]["interval"]), "burst": int(spec["rate_limit"]["burst"])}
    if spec.get("users"):
        try:
            current = yaml.safe_load(base64.b64decode(spec.get("current") or "")) or {}
        except (ValueError, yaml.YAMLError):
            current = {}
        existing = current.get("basic_auth_users", {}) if isinstance(current, dict) else {}
        config["basic_auth_users"] = monitoring_bcrypt_users(spec["users"], existing, spec.get("cost", 10))
    return MANAGED + (to_nice_yaml(config, indent=2, sort_keys=True) if config else "{}\n")


_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?\Z")
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]*):(\d{1,5})\Z")


def monitoring_common_problems(spec):
    """What is wrong with the settings every component shares, one message per problem naming the variable.

    spec: name (variable prefix), version, listen_addresses, tls_enabled, cert, key, ca (controller paths),
    users ({user: password}), flags (the role's extra flags) and args (every flag of the unit), hardening (the
    role's unit_hardening), names ({variable: [names that become file names]}), unique ({variable: [names]}).
    Messages name variables and keys, never values that may be secret. Runs on the controller, before any host
    changes.
    """
    prefix = spec["name"]
    problems = []
    version = str(spec.get("version", ""))
    if not _VERSION.match(version):
        problems.append(f"{prefix}_version '{version}' is not a release version such as 1.2.3")
    for address in spec.get("listen_addresses") or []:
        match = _LISTEN.match(str(address))
        if not match or not 1 <= int(match.group(2)) <= 65535:
            problems.append(f"{prefix}_listen_address(es): '{address}' is not host:port with a port from 1 to 65535"
                            ' (e.g. "0.0.0.0:9100", "[::]:9100", ":9100")')
    if _truthy(spec.get("tls_enabled")):
        cert, key, ca = (str(spec.get(k) or "") for k in ("cert", "key", "ca"))
        if not (os.path.isfile(cert) and os.path.isfile(key) and (not ca or os.path.isfile(ca))):
            problems.append(f"{prefix}_tls_enabled is true: set {prefix}_tls_cert_file and {prefix}_tls_key_file"
                            " (or monitoring_tls_cert_file / monitoring_tls_key_file) to existing files on the controller"
                            f" (cert '{cert}', key '{key}', CA '{ca}')")
        elif not _key_matches(cert, key):
            problems.append(f"{prefix}_tls_cert_file and {prefix}_tls_key_file do not belong together: the key is not"
                            f" the certificate's (cert '{cert}', key '{key}')")
    users = spec.get("users") or {}
    missing = [user for user, password in users.items() if not password]
    if missing:
        problems.append(f"{prefix}_basic_auth_users (or monitoring_basic_auth_users): user(s) {', '.join(missing)}"
                        " have no password; give each user a password (from vault)")
    # bcrypt uses (and Go's bcrypt refuses more than) 72 bytes: fail here, not mid-run on a host.
    long = [user for user, password in users.items() if password and len(str(password).encode("utf-8")) > 72]
    if long:
        problems.append(f"{prefix}_basic_auth_users (or monitoring_basic_auth_users): the password(s) of {', '.join(long)}"
                        " are longer than 72 bytes, the most bcrypt can hash; use at most 72 bytes")
    problems += _flag_problems(prefix, spec.get("flags"), spec.get("args"))
    limit = spec.get("rate_limit")
    if limit and not (isinstance(limit, dict) and set(limit) == {"interval", "burst"}
                      and re.fullmatch(r"(\d+(ms|s|m|h))+", str(limit["interval"])) and str(limit["burst"]).isdigit()):
        problems.append("monitoring_web_rate_limit must be {interval: <duration such as 1s>, burst: <requests>}"
                        " (or {} for no limit)")
    unknown = sorted(set(spec.get("hardening") or {}) - HARDENING_KEYS)
    if unknown:
        problems.append(f"{prefix}_unit_hardening: unknown systemd directive(s) {', '.join(unknown)} (systemd ignores"
                        " unknown keys, which would weaken the sandbox); use [Service] directives of systemd.exec(5)"
                        " or systemd.resource-control(5)")
    for variable, names in (spec.get("names") or {}).items():
        bad = [str(n) for n in names or [] if not _path_component(n)]
        if bad:
            problems.append(f"{variable}: {', '.join(repr(n) for n in bad)} cannot be used as a file name (they name"
                            " files on the hosts): use a non-empty name without '/', control characters, '.' or '..'")
    for variable, names in (spec.get("unique") or {}).items():
        seen, dups = set(), []
        for name in names or []:
            if name in seen and name not in dups:
                dups.append(name)
            seen.add(name)
        if dups:
            problems.append(f"{variable}: duplicate name(s) {', '.join(map(str, dups))}; each must be unique")
    return problems


PLACEHOLDER = "change-me"


def monitoring_placeholders(names, values):
    """The variables (of names) whose value still holds vault.yml.example's placeholder text."""
    return [name for name, value in zip(names or [], values or []) if PLACEHOLDER in str(value)]


def _key_matches(cert_path, key_path):
    """True when the private key is the certificate's (or either cannot be parsed: the tool reports that)."""
    try:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization
        with open(cert_path, "rb") as handle:
            cert = x509.load_pem_x509_certificate(handle.read())
        with open(key_path, "rb") as handle:
            key = serialization.load_pem_private_key(handle.read(), password=None)
    except Exception:  # noqa: BLE001 - unreadable or encrypted: not this check's to judge
        return True
    fmt = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    return cert.public_key().public_bytes(*fmt) == key.public_key().public_bytes(*fmt)


def monitoring_port_conflicts(ports):
    """Ports that two components (or two settings) of one host both listen on.

    ports: {component: {variable: [host:port or port, ...]}}, as each role's validation recorded them.
    """
    owners = {}
    for component, settings in sorted((ports or {}).items()):
        for variable, addresses in sorted(settings.items()):
            for address in addresses if isinstance(addresses, (list, tuple)) else [addresses]:
                port = str(address).rsplit(":", 1)[-1]
                owners.setdefault(port, []).append(f"{component} ({variable})")
    return [f"port {port} is taken twice on this host: {' and '.join(names)}; give each its own port"
            for port, names in sorted(owners.items()) if len(set(names)) > 1]


def _path_component(name):
    text = str(name)
    return bool(text) and text not in (".", "..") and "/" not in text and not _CONTROL.search(text) and "\t" not in text


def _flag_problems(prefix, flags, args):
    """Line breaks and control characters in command-line flags (they would split ExecStart=)."""
    problems = []
    bad_flags = [str(f) for f in flags or [] if _CONTROL.search(str(f))]
    if bad_flags:
        problems.append(f"{prefix}_extra_flags: flag(s) {', '.join(repr(f.split('=', 1)[0][:40]) for f in bad_flags)}"
                        " contain a line break or control character")
    bad_args = [str(a).split("=", 1)[0][:40] for a in args or [] if _CONTROL.search(str(a)) and str(a) not in bad_flags]
    if bad_args:
        problems.append(f"{prefix}: the value of flag(s) {', '.join(bad_args)} contains a line break or control character;"
                        f" check the {prefix}_* setting behind it (paths, URLs, labels)")
    return problems


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


def monitoring_health_spec(spec):
    """monitoring_health / monitoring_files health options from the component's listen address and credentials.

    spec: listen_address, host, path, metrics_path, tls (serves HTTPS), ca (CA path on the host or ''), status, retries,
    user and password (default: the first of users, the endpoint's basic auth users), reload_metric, reloaded_since,
    cluster_path and cluster_peers (members the cluster status there must list; 0: no cluster check), targets_path
    and targets_min (Prometheus targets that must have been scraped; 0: no check).
    """
    user, password = spec.get("user"), spec.get("password")
    if not password and spec.get("users"):
        user, password = _client_user(spec["users"], user, "the health check user (monitoring_health_user)")
    listen = str(spec["listen_address"])
    base = f"{'https' if spec.get('tls') else 'http'}://{spec.get('host') or monitoring_health_host(listen)}:{listen.rsplit(':', 1)[-1]}"
    return {"url": base + (spec.get("path") or "/"), "status": int(spec.get("status") or 200), "ca_path": spec.get("ca") or None,
            "user": user or None, "password": password or None, "retries": int(spec.get("retries") or 30),
            "metrics_url": base + (spec.get("metrics_path") or "/metrics"), "reload_metric": spec.get("reload_metric") or "",
            "reloaded_since": float(spec.get("reloaded_since") or 0),
            "cluster_url": base + (spec.get("cluster_path") or "/"), "cluster_peers": int(spec.get("cluster_peers") or 0),
            "targets_url": base + (spec.get("targets_path") or "/"), "targets_min": int(spec.get("targets_min") or 0)}


STAGING_DIR = "/var/lib/monitoring-stack/releases"
RELEASE_MARKER = ".monitoring-release"


def monitoring_release_archive(version_dir, staging_dir=STAGING_DIR):
    """Where the release archive waits on the host until monitoring_files unpacks it (removed then): a root-owned
    0700 directory that monitoring_files keeps so, never a world-writable one."""
    root, version = version_dir.rstrip("/").rsplit("/", 1)
    return f"{staging_dir.rstrip('/')}/{root.rsplit('/', 1)[-1]}-{version}.tar.gz"


def monitoring_release_digest(checksums, archive_name, url=""):
    """The sha256 of archive_name in a checksum list ("<sha256>  <file>" lines) or a file holding only the digest."""
    lines = [line.split() for line in str(checksums or "").splitlines() if line.strip()]
    for fields in lines:
        if len(fields) >= 2 and fields[-1].lstrip("*").rsplit("/", 1)[-1] == archive_name:
            digest = fields[0].lower()
            break
    else:
        digest = lines[0][0].lower() if len(lines) == 1 and len(lines[0]) == 1 else ""
    if not re.fullmatch(r"[0-9a-f]{64}", digest):
        raise AnsibleFilterError(f"the checksum list {url} has no sha256 for {archive_name}")
    return digest


def monitoring_deploy_plan(spec):
    """What deploy.yml hands to monitoring_files, from one component's inputs (defaults/main.yml, vars/main.yml).

    Built here rather than in Jinja: every forked worker compiles each template it touches again, and this plan is
    made on every host on every run. Returns release, account, secret_entries, entries, prune, versions,
    service and health.
    """
    name, group, conf = spec["name"], spec["group"], spec["config_dir"]
    tls_dir = f"{conf}/tls"
    owned = {"owner": "root", "group": group}
    dirs = [dict(owned, path=conf, state="directory", mode="0750")]
    if spec["tls_cert_src"] or spec["tls_ca_src"]:
        dirs.append(dict(owned, path=tls_dir, state="directory", mode="0750"))
    triggers = list(spec.get("tls_triggers") or [])
    tls = [dict(owned, path=f"{tls_dir}/{file}", content=_read(src), mode="0644", triggers=triggers)
           for file, src in (("server.crt", spec["tls_cert_src"]), ("ca.crt", spec["tls_ca_src"])) if src]
    key = [dict(owned, path=f"{tls_dir}/server.key", content=_read(spec["tls_key_src"]), mode="0640", diff=False,
                triggers=triggers)] if spec["tls_key_src"] else []
    web, web_secret = [], bool(spec["web"]["users"])
    if spec["web_config"]:
        web = [dict(owned, path=spec["web_config_file"], content=monitoring_web_config(spec["web"]), mode="0640", diff=False)]
        if spec["web_config_validate"]:
            web[0]["validate"] = spec["web_config_validate"]
    release, versions, ready, unpack = [], None, None, None
    if spec["install"]:
        version_dir, current = spec["version_dir"], spec["current_link"]
        ready = f"{version_dir}/{RELEASE_MARKER}"
        release = [{"path": version_dir, "state": "directory", "owner": "root", "group": "root", "mode": "0755"},
                   {"path": current, "state": "link", "src": version_dir, "triggers": ["restart"]}]
        release += [monitoring_bin_link(binary, spec["bin_dir"], current) for binary in spec["binaries"]]
        versions = {"root": version_dir.rsplit("/", 1)[0], "link": current, "keep": int(spec["keep_versions"])}
        unpack = {"archive": monitoring_release_archive(version_dir, spec.get("staging_dir") or STAGING_DIR),
                  "dest": version_dir, "sha256": spec.get("release_sha256") or None}
        if spec.get("version_probe") and spec["binaries"]:
            unpack["probe"] = [spec["binaries"][0]] + list(spec["version_probe"])
    health = monitoring_health_spec(dict(spec["health"], tls=spec["web"]["tls"], users=spec["web"]["users"],
                                         ca=f"{tls_dir}/ca.crt" if spec["tls_ca_src"] else "")) \
        if spec["health"]["listen_address"] else None
    snapshot = spec.get("upgrade_snapshot") or {}
    if unpack and health and snapshot.get("path"):
        origin = "/".join(health["url"].split("/", 3)[:3])  # scheme://host:port of the health check
        unpack["snapshot"] = {"url": origin + snapshot["path"], "dir": snapshot["dir"]}
    unit = dict(spec["unit"], name=name, user=spec["user"], group=group)
    # Without secret variables the file goes (a removed Redis password must not stay on the host).
    secret_env = [{"path": f"{conf}/environment", "state": "absent", "triggers": ["restart"]}]
    if spec.get("secret_environment"):
        unit["environment_file"] = f"{conf}/environment"
        secret_env = [{"path": unit["environment_file"], "owner": "root", "group": "root", "mode": "0600", "diff": False,
                       "content": monitoring_environment_file(name, spec["secret_environment"]), "triggers": ["restart"]}]
    content = monitoring_systemd_unit(unit)
    restart = {"owner": "root", "group": "root", "mode": "0644", "triggers": ["restart", "daemon-reload"]}
    if unit["dropin_for"]:
        dropin = f"/etc/systemd/system/{unit['dropin_for']}.service.d"
        units = [{"path": dropin, "state": "directory", "owner": "root", "group": "root", "mode": "0755"},
                 dict(restart, path=f"{dropin}/10-hardening.conf", content=content)]
    else:
        units = [dict(restart, path=f"/etc/systemd/system/{name}.service", content=content,
                      verify_unit=bool(spec["service_start"]))]  # a unit whose binary is not installed cannot load
    # With a key, the certificates go with it: the web config's check (promtool) opens them.
    secret = dirs + (tls if key else []) + key + (web if web_secret else []) + secret_env + list(spec["secret_files"])
    start = bool(spec["service_start"])
    return {
        "release": ready,
        "unpack": unpack,
        "account": {"user": spec["user"], "group": group, "home": spec["home"]} if spec["account"] else None,
        "secret_entries": secret,
        "entries": dirs + ([] if key else tls) + release + ([] if web_secret else web) + list(spec["files"]) + units,
        "prune": [dict(p, keep=[e["path"] for e in secret if "content" in e]) for p in spec["prune"]],
        "versions": versions,
        "service": {"name": unit["dropin_for"] or name, "enabled": start, "started": start},
        "previous": spec.get("previous_dir") if start else None,
        "health": health,
    }


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
    parts = re.findall(r"(\d+)(ms|s|m|h|d|w|y)", str(text))
    if not parts or "".join(n + u for n, u in parts) != str(text):
        raise AnsibleFilterError(f"'{text}' is not a duration such as 15s or 1h30m")
    return sum(int(n) * _DURATION_UNITS[u] for n, u in parts)


def monitoring_named_files(paths, contents, inline=None, suffix="", suffixes=()):
    """{file name: content} of a directory on the controller (paths and their contents in that order, from
    query('fileglob') and query('file')), then the inline {name: content} (a name not ending in one of
    `suffixes` gets `suffix`), which wins over a file of the same name."""
    files = {path.rsplit("/", 1)[-1]: content for path, content in zip(paths or [], contents or [])}
    for name, content in (inline or {}).items():
        name = str(name)
        files[name if name.endswith(tuple(suffixes or [suffix])) else name + suffix] = content
    return files


def monitoring_bin_link(binary, bin_dir, current):
    """monitoring_files entry linking a release executable into the PATH through the current-version link."""
    return {"path": f"{bin_dir}/{binary.rsplit('/', 1)[-1]}", "state": "link", "src": f"{current}/{binary}"}


class FilterModule:
    def filters(self):
        return {
            "monitoring_bcrypt_users": monitoring_bcrypt_users,
            "monitoring_web_config": monitoring_web_config,
            "monitoring_common_problems": monitoring_common_problems,
            "monitoring_placeholders": monitoring_placeholders,
            "monitoring_port_conflicts": monitoring_port_conflicts,
            "monitoring_deploy_plan": monitoring_deploy_plan,
            "monitoring_release_archive": monitoring_release_archive,
            "monitoring_release_digest": monitoring_release_digest,
            "monitoring_health_spec": monitoring_health_spec,
            "monitoring_ini_value": monitoring_ini_value,
            "monitoring_duration_seconds": monitoring_duration_seconds,
            "monitoring_bin_link": monitoring_bin_link,
            "monitoring_named_files": monitoring_named_files,
        }
