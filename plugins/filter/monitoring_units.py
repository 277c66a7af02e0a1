"""Filters of the systemd units: the templates of roles/monitoring_common/templates/systemd (service, drop-in,
oneshot and timer, each including the hardening) filled with checked and quoted values; the hardening keys a role
may set; the content of a secret EnvironmentFile=."""
import functools
import os
import re

import jinja2
from ansible.errors import AnsibleFilterError

MANAGED = "#\n# Ansible managed\n#\n"

_CONTROL = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")


def monitoring_systemd_quote(arg):
    """Quote one command-line argument for ExecStart= (escapes, specifiers, variables).

    A line break would end ExecStart= and start a directive of its own: refused (the validation plays name the
    variable first)."""
    if _CONTROL.search(str(arg)):
        raise AnsibleFilterError(f"a command-line argument contains a line break or control character: {str(arg)[:40]!r}")
    text = str(arg).replace("\\", "\\\\").replace('"', '\\"').replace("%", "%%").replace("$", "$$")
    return f'"{text}"' if any(c in text for c in " \t'\"\\;") else text


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


class FilterModule:
    def filters(self):
        return {
            "monitoring_systemd_unit": monitoring_systemd_unit,
            "monitoring_timer_units": monitoring_timer_units,
            "monitoring_systemd_quote": monitoring_systemd_quote,
        }
