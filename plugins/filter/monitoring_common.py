"""Filters for the shared role: bcrypt hashes, web config and unit files, endpoints of inventory groups,
ini values, file entries. Files every host gets are rendered here, in Python: a template lookup per host
and run costs more controller time than the module run that writes the file."""
import base64
import functools
import os
import re
from urllib.parse import urlsplit

import bcrypt
import jinja2
import yaml
from ansible.errors import AnsibleFilterError
from ansible.plugins.filter.core import to_nice_yaml

# The component registry and the address helpers: filters of this collection too (tools/lab.py reads the registry).
from ansible_collections.monitoring.stack.plugins.filter.monitoring_addresses import belongs_to_another, literal_ip, owners
from ansible_collections.monitoring.stack.plugins.filter.monitoring_components import COMPONENTS

MANAGED = "#\n# Ansible managed\n#\n"


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


_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def monitoring_systemd_quote(arg):
    """Quote one command-line argument for ExecStart= (escapes, specifiers, variables).

    A line break would end ExecStart= and start a directive of its own: refused (the validation plays name the
    variable first)."""
    if _CONTROL.search(str(arg)):
        raise AnsibleFilterError(f"a command-line argument contains a line break or control character: {str(arg)[:40]!r}")
    text = str(arg).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{text}"' if any(c in text for c in " \t'\"\\;") else text


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


def _unit_value(value):
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


# The unit files are templates of the shared role (roles/monitoring_common/templates/systemd), compiled once per
# process: the filters check and quote the values, the templates lay the units out.
UNIT_TEMPLATES = os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))),
                              "roles", "monitoring_common", "templates", "systemd")


@functools.lru_cache(maxsize=None)
def _unit_template(name):
    environment = jinja2.Environment(loader=jinja2.FileSystemLoader(UNIT_TEMPLATES), trim_blocks=True,
                                     keep_trailing_newline=True, undefined=jinja2.StrictUndefined, autoescape=False)
    return environment.get_template(name)


def _unit(template, **values):
    return _unit_template(template).render(managed=MANAGED, **values)


def _unit_value(value):
    return ("yes" if value else "no") if isinstance(value, bool) else str(value)


def monitoring_unit_hardening(name, read_write_paths, base, overrides):
    """The [Service] hardening of hardening.j2: {name, read_write_paths, hardening: [(directive, value)]}, the
    baseline merged with overrides (None drops a directive), sorted."""
    merged = dict(base or {}, **(overrides or {}))
    unknown = sorted(set(merged) - HARDENING_KEYS)
    if unknown:
        raise AnsibleFilterError(f"{name}: unknown systemd hardening directive(s) {', '.join(unknown)}")
    bad = [key for key, value in merged.items() if _CONTROL.search(str(value)) or _CONTROL.search(str(key))]
    bad += ["ReadWritePaths"] if any(_CONTROL.search(str(path)) for path in read_write_paths or []) else []
    if bad:
        raise AnsibleFilterError(f"{name}: hardening directive(s) {', '.join(bad)} contain a line break or control character")
    items = [(key, _unit_value(item)) for key in sorted(merged) if merged[key] is not None
             for item in (merged[key] if isinstance(merged[key], (list, tuple)) else [merged[key]])]
    return {"name": name, "read_write_paths": list(read_write_paths or []), "hardening": items}


def _environment(name, what, variables):
    """(name, value) pairs, sorted; a key that is no variable name or a value with a line break is an error."""
    pairs = sorted((variables or {}).items())
    for key, value in pairs:
        if not re.match(r"^[A-Za-z_][A-Za-z0-9_]*\Z", str(key)) or _CONTROL.search(str(value)):
            raise AnsibleFilterError(f"{name}: {what} {key!r} needs a variable name and a value without "
                                     "line breaks or control characters")
    return pairs


def _refuse_line_breaks(spec, what, keys):
    """A unit line a value could split (a line break starts a new directive) is an error naming the key."""
    for key in keys:
        if _CONTROL.search(str(spec.get(key) or "")):
            raise AnsibleFilterError(f"{spec['name']}: {what} {key} contains a line break or control character")


def monitoring_systemd_unit(spec):
    """A hardened unit (service.j2) or, with spec.dropin_for, a drop-in hardening a packaged unit (dropin.j2).

    spec: name, description, documentation, user, group, exec, args, reloadable, environment ({name: value}),
    read_write_paths, hardening_base, hardening, dropin_for, wants (units started with it, e.g. its timers).
    """
    _refuse_line_breaks(spec, "the unit's", ("description", "documentation", "exec", "user", "group"))
    hardening = monitoring_unit_hardening(spec["name"], spec.get("read_write_paths"), spec.get("hardening_base"),
                                          spec.get("hardening"))
    # No secrets in Environment=: the unit is world-readable (secrets go to *_FILE variables or EnvironmentFile=).
    environment = [f"Environment={monitoring_systemd_quote(f'{key}={value}')}"
                   for key, value in _environment(spec["name"], "environment", spec.get("environment"))]
    if spec.get("environment_file"):
        environment.append(f"EnvironmentFile={monitoring_systemd_quote(spec['environment_file'])}")
    values = dict(hardening, reloadable=bool(spec.get("reloadable")), environment=environment)
    if spec.get("dropin_for"):
        return _unit("dropin.j2", dropin_for=spec["dropin_for"], **values)
    return _unit("service.j2", description=spec["description"], documentation=spec.get("documentation") or "",
                 wants=["network-online.target"] + [monitoring_systemd_quote(unit) for unit in spec.get("wants") or []],
                 user=spec["user"], group=spec["group"], exec=spec["exec"],
                 args=[monitoring_systemd_quote(arg) for arg in spec.get("args") or []], **values)


def monitoring_timer_units(spec):
    """A periodic job as a hardened oneshot service (oneshot.j2) and its timer (timer.j2): {"service", "timer"}.

    spec: name, description, exec, args, interval (systemd time span between runs; the first run comes 15 s
    after the timer starts), part_of (the component it belongs to: its unit starts the timer through Wants=,
    so boot and every restart of the component start it), read_write_paths, capabilities, hardening_base, hardening.
    Runs as root inside the sandbox: it may write only read_write_paths and has no network.
    """
    name = spec["name"]
    _refuse_line_breaks(spec, "the timer's", ("description", "exec", "interval", "part_of"))
    # A writer needs no network and only the capabilities it names (CAP_DAC_OVERRIDE: a directory another user
    # owns); its files must stay readable by the component.
    own = {"PrivateNetwork": "yes", "IPAddressDeny": "any", "RestrictAddressFamilies": "AF_UNIX", "UMask": "0022",
           "CapabilityBoundingSet": " ".join(spec.get("capabilities") or [])}
    hardening = monitoring_unit_hardening(name, spec.get("read_write_paths"), dict(spec.get("hardening_base") or {}, **own),
                                          spec.get("hardening"))
    return {"service": _unit("oneshot.j2", description=spec["description"], exec=spec["exec"],
                             args=[monitoring_systemd_quote(arg) for arg in spec.get("args") or []], **hardening),
            "timer": _unit("timer.j2", description=spec["description"], interval=spec["interval"], part_of=spec["part_of"])}


_ENV_SPECIAL = re.compile(r'[\\"`$]')


def monitoring_environment_file(name, variables):
    """An EnvironmentFile= for secrets ({NAME: value}): root-only, read by systemd before it drops privileges.
    Double-quoted, so \\ " ` $ are escaped and reach the process verbatim."""
    lines = []
    for key, value in _environment(name, "secret environment", variables):
        quoted = _ENV_SPECIAL.sub(r"\\\g<0>", str(value))
        lines.append(f'{key}="{quoted}"')
    return "".join(line + "\n" for line in lines)


_VERSION = re.compile(r"^\d+\.\d+\.\d+(-[0-9A-Za-z.]+)?\Z")
_LISTEN = re.compile(r"^(\[[0-9A-Fa-f:.]+\]|[0-9A-Za-z.-]*):(\d{1,5})\Z")


def _truthy(value):
    return value is True or str(value).strip().lower() in ("true", "yes", "on", "1")


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


# [Service] directives a *_unit_hardening mapping may set: systemd.exec(5), systemd.resource-control(5) and the
# restart/limit settings of systemd.service(5). systemd ignores keys it does not know, with only a log line.
HARDENING_KEYS = frozenset("""
AmbientCapabilities AppArmorProfile BindPaths BindReadOnlyPaths CPUAccounting CPUQuota CPUWeight CacheDirectory
CacheDirectoryMode CapabilityBoundingSet ConfigurationDirectory ConfigurationDirectoryMode DevicePolicy DeviceAllow
DynamicUser Environment EnvironmentFile ExecPaths IOAccounting IOWeight IPAccounting IPAddressAllow IPAddressDeny
InaccessiblePaths KeyringMode LimitAS LimitCORE LimitDATA LimitFSIZE LimitMEMLOCK LimitNOFILE LimitNPROC LimitRSS
LimitSTACK LockPersonality LogsDirectory LogsDirectoryMode MemoryAccounting MemoryDenyWriteExecute MemoryHigh
MemoryMax MemoryMin MemorySwapMax MountFlags NoExecPaths NoNewPrivileges Nice OOMScoreAdjust PrivateDevices
PrivateIPC PrivateMounts PrivateNetwork PrivateTmp PrivateUsers ProcSubset ProtectClock ProtectControlGroups
ProtectHome ProtectHostname ProtectKernelLogs ProtectKernelModules ProtectKernelTunables ProtectProc ProtectSystem
ReadOnlyPaths ReadWritePaths RemoveIPC RestartSec RestrictAddressFamilies RestrictFileSystems RestrictNamespaces
RestrictNetworkInterfaces RestrictRealtime RestrictSUIDSGID RuntimeDirectory RuntimeDirectoryMode
RuntimeDirectoryPreserve SecureBits SocketBindAllow SocketBindDeny StateDirectory StateDirectoryMode
SupplementaryGroups SystemCallArchitectures SystemCallErrorNumber SystemCallFilter SystemCallLog TasksAccounting
TasksMax TemporaryFileSystem TimeoutStartSec TimeoutStopSec UMask WatchdogSec
""".split())


def _read(path):
    with open(path, encoding="utf-8") as handle:
        return handle.read()


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
            "monitoring_systemd_unit": monitoring_systemd_unit,
            "monitoring_timer_units": monitoring_timer_units,
            "monitoring_deploy_plan": monitoring_deploy_plan,
            "monitoring_release_archive": monitoring_release_archive,
            "monitoring_release_digest": monitoring_release_digest,
            "monitoring_health_spec": monitoring_health_spec,
            "monitoring_systemd_quote": monitoring_systemd_quote,
            "monitoring_health_host": monitoring_health_host,
            "monitoring_endpoints": monitoring_endpoints,
            "monitoring_route_path": monitoring_route_path,
            "monitoring_pki_hosts": monitoring_pki_hosts,
            "monitoring_client_user": lambda users, name="", where="": list(_client_user(users, name, where)),
            "monitoring_single_user": monitoring_single_user,
            "monitoring_peer_address": monitoring_peer_address,
            "monitoring_ini_value": monitoring_ini_value,
            "monitoring_duration_seconds": monitoring_duration_seconds,
            "monitoring_bin_link": monitoring_bin_link,
            "monitoring_named_files": monitoring_named_files,
        }
