#!/usr/bin/python
# -*- coding: utf-8 -*-
# Apache-2.0, monitoring-stack
"""Apply a component's system account, directories, files and links in one module run."""

from __future__ import annotations

DOCUMENTATION = r"""
---
module: monitoring_files
short_description: Apply a component's account, directories, files and links in one pass
description:
  - Internal to the monitoring roles. One module run per component instead of one task per file keeps a converged
    host at one round trip, which is what makes a re-run of the stack fast.
  - Entries are applied in order. A file with a O(entries[].validate) command is written to a temporary file next to
    its destination, checked, and only then renamed into place.
  - When a check fails, every change this run made is undone, so the host keeps its previous, working files.
  - While the O(release) marker does not exist, the module changes nothing but the staging directory (it removes
    any archive it finds there: only an archive this run copies is ever unpacked) and reports RV(deferred); the role
    then downloads the release, copies it and runs the module again with its sha256, which is checked before the
    archive is unpacked. Check mode does not wait; it skips the checks.
options:
  release:
    description: >-
      The marker file of the unpacked release, written (and synced) after a complete unpack; until it exists
      nothing is changed (the files' checks need the release).
    type: str
  unpack:
    description: >-
      Where the release comes from when O(release) is missing: a tar.gz copied to the host into a root-owned 0700
      directory, checked against O(unpack.sha256), unpacked into a temporary directory next to O(unpack.dest) (its
      top directory stripped, owned by root), synced and renamed into place. The archive is removed afterwards.
    type: dict
    suboptions:
      archive: {description: The archive on the host; its directory is the root-owned staging directory., type: str, required: true}
      dest: {description: The versioned directory to create., type: str, required: true}
      sha256: {description: Expected digest; without it the run only prepares the staging directory., type: str}
      probe:
        description: >-
          A command run from the unpacked release before it counts as installed (its first element a path inside
          the release, e.g. [prometheus, --version]); a release whose binary does not run is removed again.
        type: list
        elements: str
      snapshot:
        description: >-
          Snapshot API of the running service (url, POSTed with the health check's CA and credentials) and the
          directory its snapshots land in (dir); called before the version link moves to a higher major version,
          its path returned in RV(snapshot). A failed call fails the run before anything is switched.
        type: dict
  account:
    description: System user and group that own the component's files; created (or corrected) when they differ.
    type: dict
    suboptions:
      user: {description: User name., type: str, required: true}
      group: {description: Primary group; defaults to the user name., type: str}
      home: {description: Home directory (never created)., type: str, default: /nonexistent}
      shell: {description: Login shell., type: str, default: /usr/sbin/nologin}
  entries:
    description: Paths to manage, in the order they are applied.
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Absolute path., type: str, required: true}
      state: {description: What the path is., type: str, choices: [file, directory, link, absent], default: file}
      content: {description: File content (text)., type: str}
      src: {description: Link target., type: str}
      owner: {description: Owner name or uid; unset leaves an existing path's owner alone (new paths get root)., type: str}
      group: {description: Group name or gid; as owner., type: str}
      mode: {description: Octal mode such as "0640"; unset leaves it alone (new paths get 0644 / 0755)., type: str}
      validate: {description: Command checking the new file before it is moved into place; %s is its path., type: str}
      verify_unit: {description: Check the new systemd unit with systemd-analyze verify before it is moved into place., type: bool, default: false}
      stop_unit: {description: "With state absent: stop this systemd unit before the path goes (a timer switched off), best effort.", type: str}
      diff: {description: Show the content in diffs (false for files that hold hashes or secrets)., type: bool, default: true}
      triggers:
        description: Names returned in RV(triggers) when this entry changes (restart, reload, daemon-reload, ...).
        type: list
        elements: str
        default: []
  secret_entries:
    description: >-
      Entries as O(entries), applied before them, whose O(entries[].content) is never shown (masked in the
      arguments and anywhere in the output) and never diffed; paths and check messages stay readable. One with
      a validate command (a configuration holding a secret) comes after O(entries), whose files and release it
      is checked with.
    type: list
    elements: dict
    default: []
  prune:
    description: Directories whose unmanaged content is removed (not in O(entries) and not in RV(keep)).
    type: list
    elements: dict
    default: []
    suboptions:
      path: {description: Directory., type: str, required: true}
      recurse: {description: Also remove unmanaged sub-directories and their content., type: bool, default: false}
      keep: {description: Further paths that stay (managed elsewhere)., type: list, elements: str, default: []}
      triggers: {description: Returned in RV(triggers) when something is removed., type: list, elements: str, default: []}
  check_command:
    description: Command (argument list) run after all entries when anything changed; a failure undoes the run.
    type: list
    elements: str
  versions:
    description: After O(versions.link) changed, remove the oldest directories below O(versions.root).
    type: dict
    suboptions:
      root: {description: Directory holding one sub-directory per version., type: str, required: true}
      link: {description: The link naming the current version., type: str, required: true}
      keep: {description: Versions kept, the current one included., type: int, default: 2}
  service:
    description: >-
      Systemd unit to run once all entries are in place: daemon-reload when an entry with the daemon-reload
      trigger changed, then enable (or disable) and start. A unit that was running is left to the role's
      handlers (RV(service.was_active)).
    type: dict
    suboptions:
      name: {description: Unit name., type: str, required: true}
      enabled: {description: Enable the unit at boot., type: bool, default: true}
      started: {description: Start the unit when it is not running., type: bool, default: true}
  health:
    description: >-
      When nothing is left for a restart or reload, check that the service answers (module_utils monitoring_http,
      the options of monitoring_health) and fail with its journal when it does not; RV(healthy) tells the role
      that its own health check after the handlers is not needed.
    type: dict
  previous:
    description: >-
      Root-only directory that keeps what this run replaced (files, links, pruned paths) and the health check of
      the state it replaced, so O(restore) can put it back when the service fails after the run.
    type: str
  restore:
    description: Put back what the last run kept in O(restore.dir), restart O(restore.service) and check it.
    type: dict
  plan:
    description: >-
      The options above in one mapping, as the monitoring_deploy_plan filter builds them (one template per task
      instead of one per option); its values take precedence.
    type: dict
author: monitoring-stack
"""

EXAMPLES = r"""
- name: Apply the files of node_exporter
  monitoring_files:
    release: /opt/node_exporter/1.11.1/node_exporter
    account: {user: node_exporter}
    entries:
      - {path: /etc/node_exporter, state: directory, owner: root, group: node_exporter, mode: "0750"}
      - {path: /opt/node_exporter/current, state: link, src: /opt/node_exporter/1.11.1, triggers: [restart]}
      - {path: /etc/node_exporter/web-config.yml, content: "{}\n", owner: root, group: node_exporter, mode: "0640"}
"""

RETURN = r"""
changes: {description: One line per change ("path: what")., type: list, elements: str, returned: always}
triggers: {description: Triggers of the entries that changed., type: list, elements: str, returned: always}
deferred: {description: Nothing was changed because O(release) is missing; copy the archive and run again with its sha256., type: bool, returned: always}
warnings: {description: Archives found in the staging directory that this run did not copy (removed)., type: list, returned: when any}
architecture: {description: The host's machine type (as ansible_facts.architecture), for the release archive., type: str, returned: always}
healthy: {description: The service answered the health check of this run., type: bool, returned: always}
snapshot: {description: Path of the snapshot taken before a major-version upgrade (O(unpack.snapshot))., type: str, returned: when one was taken}
pending:
  description: What the role's handlers still have to do (restart or reload, or empty); only for a service that was running.
  type: str
  returned: always
service:
  description: The unit's state before this run (was_active) and whether this run started it.
  type: dict
  returned: when O(service) is given and nothing was deferred
"""

import grp
import json
import os
import platform
import pwd
import shlex
import shutil

try:
    from ansible.module_utils.basic import AnsibleModule  # noqa: F401 - the runtime is there
    from ..module_utils.monitoring_fs import Failed, FilesMixin, sync_dir
    from ..module_utils.monitoring_http import check_health, run_quiet_module, start_journal
    from ..module_utils.monitoring_release import ReleaseMixin
    from ..module_utils.monitoring_transaction import TransactionMixin
except ImportError:  # on the host through the lean runner, which loads the module_utils by their names
    AnsibleModule = None
    from monitoring_fs import Failed, FilesMixin, sync_dir
    from monitoring_http import check_health, run_quiet_module, start_journal
    from monitoring_release import ReleaseMixin
    from monitoring_transaction import TransactionMixin



class Applier(FilesMixin, TransactionMixin, ReleaseMixin):
    """Applies the module's options; `run(argv)` executes a command and returns (rc, stdout, stderr)."""

    def __init__(self, run, check_mode=False, want_diff=False):
        self.run, self.check_mode, self.want_diff = run, check_mode, want_diff
        self.changes, self.triggers, self.diffs = [], set(), []
        self.changed_paths = set()
        self.undo = []  # callables, applied in reverse when a step fails
        self.saved = []  # temporary copies of directories for the undo steps
        self.previous = None  # directory keeping what this run replaced, until the role's health check passed
        self.manifest, self.remembered = [], set()
        self.warnings = []
        self.was_secret = set()  # paths the last run wrote as secret entries: their old content is never shown

    # --- helpers -----------------------------------------------------------------------------
    def note(self, path, what, triggers=(), before=None, after=None):
        self.changes.append(f"{path}: {what}")
        self.changed_paths.add(path)
        self.triggers.update(triggers)
        if self.want_diff and (before is not None or after is not None):
            self.diffs.append({"before_header": path, "after_header": path,
                               "before": before if before is not None else "", "after": after if after is not None else ""})

    def command(self, argv, what):
        rc, out, err = self.run(argv)
        if rc != 0:
            raise Failed(f"{what} failed (exit {rc}): {(out + err).strip()}")
        return out





    # --- account -----------------------------------------------------------------------------
    def ensure_account(self, spec):
        user = spec["user"]
        group = spec.get("group") or user
        home = spec.get("home") or "/nonexistent"
        shell = spec.get("shell") or "/usr/sbin/nologin"
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            self.note(f"group {group}", "created")
            gid = None
            if not self.check_mode:
                self.command(["groupadd", "--system", group], f"groupadd {group}")
                gid = grp.getgrnam(group).gr_gid
        try:
            current = pwd.getpwnam(user)
        except KeyError:
            self.note(f"user {user}", "created")
            if not self.check_mode:
                self.command(["useradd", "--system", "--gid", group, "--home-dir", home, "--no-create-home",
                              "--shell", shell, user], f"useradd {user}")
            return
        fixes = []
        if gid is None or current.pw_gid != gid:
            fixes += ["--gid", group]
        if current.pw_dir != home:
            fixes += ["--home", home]
        if current.pw_shell != shell:
            fixes += ["--shell", shell]
        if fixes:
            self.note(f"user {user}", "updated " + " ".join(fixes[::2]))
            if not self.check_mode:
                self.command(["usermod", *fixes, user], f"usermod {user}")

    def restore(self, spec):
        """Put back what the last changing run replaced, restart the service and check the previous health."""
        directory, service = spec["dir"], spec["service"]
        try:
            with open(os.path.join(directory, "manifest.json"), encoding="utf-8") as handle:
                manifest = json.load(handle)
        except (OSError, ValueError):
            return {"changed": False, "restored": [], "healthy": False, "msg": "no previous state was kept"}
        for entry in reversed(manifest):
            path = entry["path"]
            if entry["state"] == "file":
                with open(entry["blob"], "rb") as handle:
                    self.write(path, handle.read(), entry["mode"], entry["uid"], entry["gid"])
            elif entry["state"] == "link":
                self.remove(path)
                os.symlink(entry["src"], path)
            elif entry["state"] == "directory":
                self.remove(path)
                shutil.copytree(entry["blob"], path, symlinks=True)
            else:
                self.remove(path)
            sync_dir(os.path.dirname(path))
        self.command(["systemctl", "daemon-reload"], "systemctl daemon-reload")
        self.command(["systemctl", "restart", service], f"systemctl restart {service}")
        health_file = os.path.join(directory, "health.json")
        if os.path.exists(health_file):
            with open(health_file, encoding="utf-8") as handle:
                health = dict(json.load(handle), password=spec.get("password"))
            ok, msg, _, _ = check_health(health)
            shutil.copyfile(health_file, directory + ".health.json")
        else:  # no earlier health check to repeat: the unit must at least stay up
            ok = self.run(["sh", "-c", f"sleep 5; systemctl is-active --quiet {shlex.quote(service)}"])[0] == 0
            msg = "active" if ok else "not active"
        self.remove(directory)
        return {"changed": True, "restored": [e["path"] for e in manifest], "healthy": ok,
                "msg": f"the previous files were put back and {service} restarted: "
                       + ("it is healthy again" if ok else f"it is still not healthy ({msg})")}










    # --- the service -------------------------------------------------------------------------
    def ensure_service(self, spec):
        name = spec["name"]
        if "daemon-reload" in self.triggers and not self.check_mode:
            self.command(["systemctl", "daemon-reload"], "systemctl daemon-reload")
        state = {"name": name, "was_active": self.run(["systemctl", "is-active", "--quiet", name])[0] == 0,
                 "started_now": False}
        enabled = self.run(["systemctl", "is-enabled", "--quiet", name])[0] == 0
        if spec.get("enabled", True) != enabled:
            verb = "enable" if spec.get("enabled", True) else "disable"
            self.note(f"service {name}", f"{verb}d")
            if not self.check_mode:
                self.command(["systemctl", verb, name], f"systemctl {verb} {name}")
        if spec.get("started", True) and not state["was_active"]:
            self.note(f"service {name}", "started")
            state["started_now"] = True
            if not self.check_mode:
                self.command(["systemctl", "start", name], f"systemctl start {name}")
        return state

    # --- the run -----------------------------------------------------------------------------
    def verify_health(self, spec, service, started_now=False):
        """Health of a service nothing is queued for (or that this run started); a failure shows its journal."""
        if self.check_mode or ({"restart", "reload"} & self.triggers and not started_now):
            return False
        if started_now:  # a first start: the other cluster members may not be installed yet
            spec = dict(spec, cluster_peers=0)
        ok, msg, _, _ = check_health(spec)
        if not ok:
            journal = self.journal(service) if service else ""
            raise Failed(f"{service or spec['url']} is not healthy: {msg}\njournal:\n{journal}")
        return True

    def journal(self, service):
        return start_journal(self.run, service)

    def apply(self, account=None, entries=(), prune=(), check_command=None, versions=None, service=None,
              health=None, release=None, unpack=None, previous=None):
        self.was_secret = self.read_secret_paths(previous) if previous else set()
        self.previous = None if self.check_mode else previous
        try:
            result = self._apply(account, entries, prune, check_command, versions, service, health, release, unpack)
            if self.previous and not result.get("deferred"):
                self.record_secret_paths(previous, [os.path.normpath(e["path"]) for e in entries if e.get("secret")])
            return result
        finally:
            for saved in self.saved:
                shutil.rmtree(saved, ignore_errors=True)
            self.saved = []

    def _apply(self, account, entries, prune, check_command, versions, service, health, release, unpack):
        appliers = {"directory": self.apply_directory, "file": self.apply_file, "link": self.apply_link,
                    "absent": lambda entry, path, triggers: self.apply_absent(path, triggers, entry.get("stop_unit"))}
        if release and not self.check_mode and not os.path.exists(release):
            if not (unpack and unpack.get("sha256")):
                if unpack:
                    self.prepare_staging(unpack)
                deferred = {"changed": False, "changes": [], "triggers": sorted(self.triggers), "deferred": True,
                            "healthy": False, "pending": ""}
                return dict(deferred, warnings=self.warnings) if self.warnings else deferred
            self.unpack(dict(unpack, marker=release))
        snapshot = self.snapshot(unpack or {}, versions, health, (service or {}).get("name"))
        try:
            if account:
                self.ensure_account(account)
            for entry in entries:
                path = os.path.normpath(entry["path"])
                if not os.path.isabs(path):
                    raise Failed(f"{entry['path']}: paths must be absolute")
                appliers[entry.get("state") or "file"](entry, path, entry.get("triggers") or [])
            managed = {os.path.normpath(e["path"]) for e in entries}
            for spec in prune:
                self.prune(spec, managed)
            if check_command and self.changes and not self.check_mode:
                self.command(list(check_command), "the check of the complete configuration")
        except (Failed, OSError) as err:
            self.rollback()
            raise Failed(str(err)) from err
        self.keep_previous(health)
        if versions:
            self.prune_versions(versions)
        result = {"changes": self.changes, "triggers": sorted(self.triggers), "deferred": False}
        if snapshot:
            result["snapshot"] = snapshot
        if service:
            result["service"] = self.ensure_service(service)
        started = result.get("service", {}).get("started_now", False)
        result["healthy"] = bool(health) and self.verify_health(health, (service or {}).get("name"), started)
        result["triggers"] = sorted(self.triggers)
        # What the role's handlers still have to do: only a service that was running needs them.
        was_active = result.get("service", {}).get("was_active", False)
        result["pending"] = next((t for t in ("restart", "reload") if t in self.triggers and was_active), "")
        result["changed"] = bool(self.changes)
        if self.warnings:
            result["warnings"] = self.warnings
        return result



ENTRY_OPTIONS = dict(
    path=dict(type="str", required=True),
    state=dict(type="str", default="file", choices=["file", "directory", "link", "absent"]),
    content=dict(type="str"), src=dict(type="str"), owner=dict(type="str"), group=dict(type="str"),
    mode=dict(type="str"), validate=dict(type="str"), diff=dict(type="bool", default=True),
    verify_unit=dict(type="bool", default=False), stop_unit=dict(type="str"),
    triggers=dict(type="list", elements="str", default=[]),
)
# The options a plan (monitoring_deploy_plan) may carry; given alone or inside O(plan).
PLANNED = dict(
    release=dict(type="str"),
    unpack=dict(type="dict", options=dict(archive=dict(type="str", required=True), dest=dict(type="str", required=True),
                                          sha256=dict(type="str"), probe=dict(type="list", elements="str"),
                                          snapshot=dict(type="dict", options=dict(url=dict(type="str", required=True),
                                                                                  dir=dict(type="str", required=True))))),
    account=dict(type="dict", options=dict(user=dict(type="str", required=True), group=dict(type="str"),
                                           home=dict(type="str", default="/nonexistent"),
                                           shell=dict(type="str", default="/usr/sbin/nologin"))),
    entries=dict(type="list", elements="dict", default=[], options=ENTRY_OPTIONS),
    secret_entries=dict(type="list", elements="dict", default=[],
                        options=dict(ENTRY_OPTIONS, content=dict(type="str", no_log=True))),
    prune=dict(type="list", elements="dict", default=[], options=dict(
        path=dict(type="str", required=True), recurse=dict(type="bool", default=False),
        keep=dict(type="list", elements="str", default=[]),
        triggers=dict(type="list", elements="str", default=[]))),
    versions=dict(type="dict", options=dict(root=dict(type="str", required=True),
                                            link=dict(type="str", required=True),
                                            keep=dict(type="int", default=2))),
    service=dict(type="dict", options=dict(name=dict(type="str", required=True),
                                           enabled=dict(type="bool", default=True),
                                           started=dict(type="bool", default=True))),
    previous=dict(type="str"),
    health=dict(type="dict", options=dict(
        url=dict(type="str", required=True), status=dict(type="int", default=200), ca_path=dict(type="str"),
        user=dict(type="str"), password=dict(type="str", no_log=True), retries=dict(type="int", default=30),
        delay=dict(type="float", default=1), timeout=dict(type="int", default=5), metrics_url=dict(type="str"),
        reload_metric=dict(type="str", default=""), reloaded_since=dict(type="float", default=0),
        cluster_url=dict(type="str"), cluster_peers=dict(type="int", default=0),
        targets_url=dict(type="str"), targets_min=dict(type="int", default=0))),
)
ARGUMENT_SPEC = dict(PLANNED, plan=dict(type="dict", options=PLANNED), check_command=dict(type="list", elements="str"),
                     restore=dict(type="dict", options=dict(dir=dict(type="str", required=True),
                                                            service=dict(type="str", required=True),
                                                            password=dict(type="str", no_log=True))))


def run(params, check_mode, want_diff, run_command):
    """The module's work on validated parameters; the result, with failed and msg when a step failed."""
    params = dict(params)
    params.update({key: value for key, value in (params.pop("plan", None) or {}).items() if value is not None})
    # Secret contents never reach a diff, not even the old content that no_log does not know.
    secrets = [dict(entry, diff=False, secret=True) for entry in params.get("secret_entries") or []]
    checked = [entry for entry in secrets if entry.get("validate")]
    secrets = [entry for entry in secrets if not entry.get("validate")]
    applier = Applier(run_command, check_mode, want_diff)
    if params.get("restore"):
        try:
            return dict(applier.restore(params["restore"]), architecture=platform.machine())
        except (Failed, OSError) as err:
            return {"failed": True, "msg": f"could not put the previous files back: {err}"}
    try:
        result = applier.apply(params.get("account"), secrets + (params.get("entries") or []) + checked,
                               params.get("prune") or [],
                               params.get("check_command"), params.get("versions"), params.get("service"),
                               params.get("health"), params.get("release"), params.get("unpack"), params.get("previous"))
    except Failed as err:
        return {"failed": True, "msg": str(err), "changes": applier.changes}
    result["architecture"] = platform.machine()
    if applier.diffs:
        result["diff"] = applier.diffs
    return result


def main():
    run_quiet_module(ARGUMENT_SPEC, run)


if __name__ == "__main__":
    main()
