#!/usr/bin/python
# -*- coding: utf-8 -*-
# Apache-2.0, monitoring-stack
"""The few host facts the monitoring roles read, under the names the setup module gives them."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: monitoring_facts
short_description: The host facts the monitoring roles read, without a full fact gathering
description:
  - Internal to the monitoring roles. Sets C(architecture), C(hostname), C(nodename), C(fqdn), C(os_family),
    C(distribution), C(distribution_major_version), C(default_ipv4), C(all_ipv4_addresses) and C(date_time.epoch)
    in C(ansible_facts), with the names and shapes of M(ansible.builtin.setup).
  - A full fact gathering costs several times more per host; the roles work with either.
  - Also reads one file (O(read)), so a role that needs both costs one round trip.
options:
  gather:
    description: Set the facts.
    type: bool
    default: true
  read:
    description: A file whose content (base64) is returned in RV(content); empty when it does not exist.
    type: path
  read_files:
    description: Files whose contents (base64, empty when missing, left out when unreadable) are returned in RV(contents) by path.
    type: list
    elements: path
    default: []
author: monitoring-stack
"""

EXAMPLES = r"""
- name: Read the facts the roles need
  monitoring_facts:
"""

RETURN = r"""
ansible_facts: {description: The facts listed above., type: dict, returned: when O(gather) is true}
content: {description: The base64 content of O(read)., type: str, returned: when O(read) is given}
contents: {description: "{path: base64 content} of O(read_files).", type: dict, returned: always}
"""

import base64
import os
import platform
import shutil
import socket
import time

try:
    from ansible.module_utils.basic import AnsibleModule
except ImportError:  # unit tests import the functions without Ansible's module runtime
    AnsibleModule = None

OS_FAMILIES = {"debian": "Debian", "ubuntu": "Debian", "rhel": "RedHat", "fedora": "RedHat", "centos": "RedHat",
               "rocky": "RedHat", "almalinux": "RedHat", "ol": "RedHat", "amzn": "RedHat", "suse": "Suse",
               "opensuse": "Suse", "sles": "Suse", "arch": "Archlinux", "alpine": "Alpine"}
DISTRIBUTIONS = {"rhel": "RedHat", "centos": "CentOS", "ol": "OracleLinux", "amzn": "Amazon", "almalinux": "AlmaLinux",
                 "opensuse-leap": "openSUSE Leap", "sles": "SLES"}


def os_release(text):
    """KEY=value pairs of /etc/os-release."""
    values = {}
    for line in text.splitlines():
        key, sep, value = line.partition("=")
        if sep and not key.startswith("#"):
            values[key.strip()] = value.strip().strip('"').strip("'")
    return values


def distribution_facts(release):
    ids = [release.get("ID", "").lower()] + release.get("ID_LIKE", "").lower().split()
    family = next((OS_FAMILIES[i] for i in ids if i in OS_FAMILIES), ids[0].capitalize() if ids[0] else "")
    name = DISTRIBUTIONS.get(ids[0], ids[0].capitalize())
    return {"os_family": family, "distribution": name,
            "distribution_major_version": release.get("VERSION_ID", "").split(".")[0] or "NA"}


def ipv4_facts(addr_output, route_output):
    """all_ipv4_addresses from `ip -4 -o addr show` (loopback left out, as setup does) and default_ipv4 from
    `ip -4 route get` towards a public address."""
    addresses = []
    for line in addr_output.splitlines():
        fields = line.split()
        if "inet" in fields:
            address = fields[fields.index("inet") + 1].split("/")[0]
            if not address.startswith("127."):
                addresses.append(address)
    default = {}
    fields = route_output.split()
    if "src" in fields:
        default["address"] = fields[fields.index("src") + 1]
    if "dev" in fields:
        default["interface"] = fields[fields.index("dev") + 1]
    return {"all_ipv4_addresses": addresses, "default_ipv4": default}


def which(name):
    """A command's path on the usual system paths (also sbin, which a non-login PATH may lack)."""
    return shutil.which(name, path=os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin", "/usr/bin", "/sbin", "/bin"]))


def host_facts(run_command):
    node = platform.node()
    facts = {"architecture": platform.machine(), "nodename": node, "hostname": node.split(".")[0],
             "fqdn": socket.getfqdn(), "date_time": {"epoch": str(int(time.time()))}, "system": platform.system()}
    try:
        with open("/etc/os-release", encoding="utf-8") as handle:
            facts.update(distribution_facts(os_release(handle.read())))
    except OSError:
        facts.update(os_family="", distribution="", distribution_major_version="NA")
    ip = which("ip")
    addr = run_command([ip, "-4", "-o", "addr", "show"])[1] if ip else ""
    route = run_command([ip, "-4", "route", "get", "192.0.2.1"])[1] if ip else ""
    facts.update(ipv4_facts(addr, route))
    return facts


ARGUMENT_SPEC = {"gather": {"type": "bool", "default": True}, "read": {"type": "path"},
                 "read_files": {"type": "list", "elements": "path", "default": []}}


def read_base64(path):
    """The file's content in base64; empty when it does not exist, None when it cannot be read."""
    try:
        with open(path, "rb") as handle:
            return base64.b64encode(handle.read()).decode()
    except FileNotFoundError:
        return ""
    except PermissionError:
        return None


def run(params, check_mode, want_diff, run_command):
    """Facts and file content for validated parameters."""
    result = {"changed": False}
    if params["gather"]:
        result["ansible_facts"] = host_facts(run_command)
    if params.get("read"):
        result["content"] = read_base64(params["read"]) or ""
    # A file this user may not read is left out: its deploy then reads it itself, as root.
    contents = {path: read_base64(path) for path in params.get("read_files") or []}
    result["contents"] = {path: content for path, content in contents.items() if content is not None}
    return result


def main():
    module = AnsibleModule(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)
    module.exit_json(**run(module.params, module.check_mode, module._diff, module.run_command))


if __name__ == "__main__":
    main()
