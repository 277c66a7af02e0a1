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
import hashlib
import json
import os
import platform
import pwd
import re
import shlex
import shutil
import stat
import tarfile
import tempfile

try:
    from ansible.module_utils.basic import AnsibleModule  # noqa: F401 - the runtime is there
    from ansible_collections.monitoring.stack.plugins.module_utils.monitoring_http import check_health, quiet_module, fetch, start_journal
except ImportError:  # on the host through the lean runner, which loads monitoring_http by that name
    AnsibleModule = None
    from monitoring_http import check_health, quiet_module, fetch, start_journal

DEFAULT_MODES = {"file": 0o644, "directory": 0o755}


def sync_dir(path):
    """fsync a directory, so a rename or link switch in it survives a power cut."""
    fd = os.open(path or ".", os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Failed(Exception):
    """A step failed; the message names the path and what the check said."""


class Applier:
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

    @staticmethod
    def uid(name):
        if name is None:
            return None
        return int(name) if str(name).isdigit() else pwd.getpwnam(name).pw_uid

    @staticmethod
    def gid(name):
        if name is None:
            return None
        return int(name) if str(name).isdigit() else grp.getgrnam(name).gr_gid

    def ids(self, entry, new):
        """(uid, gid) wanted for the entry; None leaves an existing path's value alone, new paths get root."""
        ids = []
        for key, lookup in (("owner", self.uid), ("group", self.gid)):
            name = entry.get(key)
            if name is None and new:
                name = "0"
            try:
                ids.append(lookup(name))
            except KeyError:
                if not self.check_mode:  # check mode: the account may only be created by the real run
                    raise Failed(f"{entry['path']}: {key} {name} does not exist") from None
                ids.append(-1)
        return ids

    @staticmethod
    def mode(entry, state, new):
        value = entry.get("mode")
        if value is None:
            return DEFAULT_MODES[state] if new else None
        try:
            return int(str(value), 8)
        except ValueError:
            raise Failed(f"{entry['path']}: mode {value!r} is not an octal mode such as 0640") from None

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

    # --- paths -------------------------------------------------------------------------------
    def make_parents(self, path):
        parent = os.path.dirname(path)
        missing = []
        while parent and not os.path.exists(parent):
            missing.append(parent)
            parent = os.path.dirname(parent)
        for directory in reversed(missing):
            self.note(directory, "created (parent)")
            if not self.check_mode:
                os.mkdir(directory, 0o755)
                self.undo.append(lambda d=directory: os.rmdir(d))

    def set_attributes(self, entry, path, state, new, triggers):
        """Mode and ownership; `path` is followed for directories (a linked data directory stays a link)."""
        uid, gid = self.ids(entry, new)
        mode = self.mode(entry, state, new)
        if new and self.check_mode:
            return
        st = os.stat(path)
        what = []
        if mode is not None and stat.S_IMODE(st.st_mode) != mode:
            what.append(f"mode {stat.S_IMODE(st.st_mode):04o} -> {mode:04o}")
        if (uid is not None and uid != st.st_uid) or (gid is not None and gid != st.st_gid):
            what.append(f"owner {st.st_uid}:{st.st_gid} -> {entry.get('owner')}:{entry.get('group')}")
        if not what:
            return
        if not new:
            self.note(path, ", ".join(what), triggers)
        if self.check_mode:
            return
        old_mode, old_uid, old_gid = stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid
        self.undo.append(lambda: (os.chown(path, old_uid, old_gid), os.chmod(path, old_mode)))
        os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid)
        if mode is not None:
            os.chmod(path, mode)

    def backup(self, path):
        """Undo step that puts `path` back as it is now (file, link, directory tree or nothing)."""
        if os.path.islink(path):
            target = os.readlink(path)
            return lambda: (self.remove(path), os.symlink(target, path))
        if os.path.isdir(path):
            saved = tempfile.mkdtemp(prefix="monitoring-files-")
            self.saved.append(saved)  # removed when the run ends, whatever its outcome
            copy = os.path.join(saved, "tree")
            shutil.copytree(path, copy, symlinks=True)
            return lambda: (self.remove(path), shutil.copytree(copy, path, symlinks=True))
        if os.path.exists(path):
            st = os.stat(path)
            with open(path, "rb") as handle:
                data = handle.read()
            return lambda: self.write(path, data, st.st_mode, st.st_uid, st.st_gid)
        return lambda: self.remove(path)

    # --- the previous state, for the role to put back when the service fails after the run --------
    def remember(self, path):
        """Keep a copy of `path` as it is before this run changes it (once per path)."""
        if not self.previous or path in self.remembered:
            return
        if not self.remembered:
            self.remove(self.previous)
            os.makedirs(os.path.dirname(self.previous), 0o755, exist_ok=True)
            os.mkdir(self.previous, 0o700)
        self.remembered.add(path)
        entry, blob = {"path": path}, os.path.join(self.previous, str(len(self.manifest)))
        if os.path.islink(path):
            entry.update(state="link", src=os.readlink(path))
        elif os.path.isdir(path):
            shutil.copytree(path, blob, symlinks=True)
            entry.update(state="directory", blob=blob)
        elif os.path.isfile(path):
            st = os.stat(path)
            shutil.copyfile(path, blob)
            entry.update(state="file", blob=blob, mode=stat.S_IMODE(st.st_mode), uid=st.st_uid, gid=st.st_gid)
        else:
            entry.update(state="absent")
        self.manifest.append(entry)

    def keep_previous(self, health):
        """After a successful run: the manifest of what it replaced, and the health check of the state it replaced
        (the one this run's health check replaces in <previous>.health.json)."""
        if not self.previous or self.check_mode:
            return
        state = self.previous + ".health.json"
        if self.manifest:
            with open(os.path.join(self.previous, "manifest.json"), "w", encoding="utf-8") as handle:
                json.dump(self.manifest, handle)
            if os.path.exists(state):
                shutil.copyfile(state, os.path.join(self.previous, "health.json"))
        if health and (self.manifest or not os.path.exists(state)):
            # No secret at rest: the role gives the password again when it restores.
            kept = {key: value for key, value in health.items() if key != "password"}
            self.write(state, json.dumps(kept).encode(), 0o600, os.geteuid(), os.getegid())
        for path in (state, os.path.join(self.previous, "health.json")):
            self.scrub_password(path)

    def read_secret_paths(self, previous):
        """The paths the last run wrote as secret entries (a record of paths, no content)."""
        try:
            with open(previous + ".secret-paths.json", encoding="utf-8") as handle:
                return set(json.load(handle))
        except (OSError, ValueError):
            return set()

    def record_secret_paths(self, previous, paths):
        if set(paths) != self.was_secret:
            os.makedirs(os.path.dirname(previous), 0o755, exist_ok=True)
            self.write(previous + ".secret-paths.json", json.dumps(sorted(paths)).encode(), 0o600,
                       os.geteuid(), os.getegid())

    def scrub_password(self, path):
        """An earlier release kept the health check with its password: rewrite such a file without it."""
        try:
            with open(path, encoding="utf-8") as handle:
                kept = json.load(handle)
        except (OSError, ValueError):
            return
        if isinstance(kept, dict) and "password" in kept:
            kept.pop("password")
            self.write(path, json.dumps(kept).encode(), 0o600, os.geteuid(), os.getegid())

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

    @staticmethod
    def remove(path):
        if os.path.isdir(path) and not os.path.islink(path):
            shutil.rmtree(path)
        elif os.path.lexists(path):
            os.unlink(path)

    @staticmethod
    def write(path, data, mode, uid, gid, validate=None):
        """Write through a temporary file next to `path`; `validate(tmp)` may refuse it before the rename."""
        fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), prefix=f".{os.path.basename(path)}.", suffix=".tmp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
                handle.flush()
                os.fsync(handle.fileno())
            os.chown(tmp, uid, gid)
            os.chmod(tmp, stat.S_IMODE(mode))
            if validate:
                validate(tmp)
            if os.path.isdir(path) and not os.path.islink(path):
                raise Failed(f"{path}: is a directory, expected a file")
            os.replace(tmp, path)
            sync_dir(os.path.dirname(path))
        finally:
            if os.path.lexists(tmp):
                os.unlink(tmp)

    def apply_directory(self, entry, path, triggers):
        new = not os.path.exists(path)
        if not new and not os.path.isdir(path):
            raise Failed(f"{path}: exists and is not a directory")
        if new:
            self.make_parents(path)
            self.note(path, "directory created", triggers, "absent", "directory")
            if not self.check_mode:
                os.mkdir(path, 0o700)
                self.undo.append(lambda: os.rmdir(path))
        self.set_attributes(entry, path, "directory", new, triggers)

    def apply_file(self, entry, path, triggers):
        data = (entry.get("content") or "").encode("utf-8")
        is_file = os.path.isfile(path) and not os.path.islink(path)
        current = None
        if is_file:
            with open(path, "rb") as handle:
                current = handle.read()
        if current == data:
            self.set_attributes(entry, path, "file", False, triggers)
            return
        if os.path.isdir(path) and not os.path.islink(path):
            raise Failed(f"{path}: is a directory, expected a file")
        show = entry.get("diff", True) and b"\0" not in data
        before = (current.decode("utf-8", "replace") if current is not None else "") if show else "(content hidden)"
        if path in self.was_secret and current is not None:
            before = "(content hidden: a secret until this run)"
        after = data.decode("utf-8") if show else "(content hidden)"
        self.note(path, "written" if current is not None else "created", triggers, before, after)
        if self.check_mode:
            return
        self.make_parents(path)
        uid, gid = self.ids(entry, not is_file)
        mode = self.mode(entry, "file", not is_file)
        if is_file:
            st = os.stat(path)
            uid = st.st_uid if uid is None else uid
            gid = st.st_gid if gid is None else gid
            mode = stat.S_IMODE(st.st_mode) if mode is None else mode
        validate = None
        if entry.get("validate"):
            command = entry["validate"]
            if "%s" not in command:
                raise Failed(f"{path}: validate needs %s for the file's path: {command}")
            argv = shlex.split(command)

            def validate(tmp):
                self.command([arg.replace("%s", tmp) for arg in argv], f"validation of {path} ({command})")
        if entry.get("verify_unit"):
            validate = self.unit_verifier(path, validate)
        self.remember(path)
        undo = self.backup(path)
        self.write(path, data, mode, uid, gid, validate)
        self.undo.append(undo)

    def unit_verifier(self, path, then=None):
        """`systemd-analyze verify` of the new unit under its own name (it needs the unit suffix), before it is moved
        into place: a unit that does not load (bad syntax, missing executable) never replaces a working one."""
        def verify(tmp):
            workdir = tempfile.mkdtemp(prefix="monitoring-unit-")
            try:
                copy = os.path.join(workdir, os.path.basename(path))
                shutil.copyfile(tmp, copy)
                self.command(["systemd-analyze", "verify", copy], f"systemd-analyze verify of {path}")
            finally:
                shutil.rmtree(workdir, ignore_errors=True)
            if then:
                then(tmp)
        return verify

    def apply_link(self, entry, path, triggers):
        target = entry.get("src")
        if not target:
            raise Failed(f"{path}: a link needs src")
        current = os.readlink(path) if os.path.islink(path) else None
        if current == target:
            return
        if current is None and os.path.isdir(path):
            raise Failed(f"{path}: is a directory, expected a link to {target}")
        self.note(path, f"link -> {target}", triggers, f"link -> {current}" if current else
                  ("file" if os.path.exists(path) else "absent"), f"link -> {target}")
        if self.check_mode:
            return
        self.make_parents(path)
        self.remember(path)
        undo = self.backup(path)
        tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.{os.getpid()}.link")
        if os.path.lexists(tmp):
            os.unlink(tmp)
        os.symlink(target, tmp)
        os.replace(tmp, path)
        sync_dir(os.path.dirname(path))
        self.undo.append(undo)

    def apply_absent(self, path, triggers, stop_unit=None):
        if not os.path.lexists(path):
            return
        self.note(path, "removed", triggers, "present", "absent")
        if not self.check_mode:
            if stop_unit:  # a running unit outlives its file: systemd keeps it loaded until it is stopped
                self.run(["systemctl", "stop", stop_unit])
            self.remember(path)
            undo = self.backup(path)
            self.remove(path)
            self.undo.append(undo)

    def prune(self, spec, managed):
        root = os.path.normpath(spec["path"])
        if not os.path.isdir(root):
            return
        keep = managed | {os.path.normpath(p) for p in spec.get("keep") or []}
        triggers = spec.get("triggers") or []
        recurse = spec.get("recurse", False)
        for dirpath, dirnames, filenames in os.walk(root, topdown=True):
            for name in sorted(filenames) + sorted(d for d in dirnames if os.path.islink(os.path.join(dirpath, d))):
                path = os.path.join(dirpath, name)
                if path not in keep:
                    self.apply_absent(path, triggers)
            subdirs = sorted(d for d in dirnames if not os.path.islink(os.path.join(dirpath, d)))
            dirnames[:] = []
            for name in subdirs:
                path = os.path.join(dirpath, name)
                if not recurse:
                    continue
                if path in keep or any(k.startswith(path + os.sep) for k in keep):
                    dirnames.append(name)  # holds managed paths: look inside
                else:
                    self.apply_absent(path, triggers)

    def prune_versions(self, spec):
        root, link, keep = spec["root"], os.path.normpath(spec["link"]), max(int(spec.get("keep") or 2), 1)
        if link not in self.changed_paths or not os.path.isdir(root):
            return
        current = os.path.realpath(link)
        others = [os.path.join(root, d) for d in os.listdir(root)]
        others = [p for p in others if os.path.isdir(p) and not os.path.islink(p) and os.path.realpath(p) != current]
        others.sort(key=lambda p: os.stat(p).st_mtime, reverse=True)
        for path in others[keep - 1:]:
            self.note(path, "old version removed")
            if not self.check_mode:
                shutil.rmtree(path)

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

    def staging_dir(self, archive):
        """The archive's directory: root-owned, 0700, not a link (created or corrected); others cannot plant in it."""
        staging = os.path.dirname(os.path.normpath(archive))
        if os.path.islink(staging) or (os.path.exists(staging) and not os.path.isdir(staging)):
            raise Failed(f"{staging}: the release staging directory is a link or not a directory; remove it")
        if not os.path.isdir(staging):
            self.make_parents(staging)
            os.mkdir(staging, 0o700)
        st = os.lstat(staging)
        if st.st_uid != os.geteuid() or stat.S_IMODE(st.st_mode) != 0o700:
            os.chown(staging, os.geteuid(), os.getegid())
            os.chmod(staging, 0o700)
        return staging

    def prepare_staging(self, spec):
        """First pass: only an archive the role copies after this run is unpacked; anything there now is removed."""
        self.staging_dir(spec["archive"])
        if os.path.lexists(spec["archive"]):
            self.remove(spec["archive"])
            self.warnings.append(f"removed {spec['archive']}: an archive this run did not copy is never unpacked")

    def journal(self, service):
        return start_journal(self.run, service)

    def unpack(self, spec):
        """Check the copied archive's sha256, unpack it into spec["dest"] (its one top directory stripped) through a temporary
        directory, sync it, rename it into place and write the marker (`release`) last."""
        archive, dest, marker = spec["archive"], os.path.normpath(spec["dest"]), spec["marker"]
        self.staging_dir(archive)
        if not os.path.isfile(archive) or os.path.islink(archive):
            raise Failed(f"{archive}: the release archive was not copied to the host")
        digest = hashlib.sha256()
        with open(archive, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
        if digest.hexdigest() != str(spec["sha256"]).lower():
            os.unlink(archive)
            raise Failed(f"{archive}: sha256 {digest.hexdigest()} does not match the release checksum {spec['sha256']};"
                         " the archive was removed and nothing was installed")
        tmp = dest + ".unpacking"
        self.remove(tmp)
        os.makedirs(tmp, 0o755)
        try:
            with tarfile.open(archive, "r:*") as tar:
                members = [(member, [p for p in member.name.split("/") if p not in ("", ".")]) for member in tar.getmembers()]
                # Upstream archives hold one top directory (stripped); some (VictoriaMetrics) are flat.
                tops = {parts[0] for _, parts in members if parts}
                strip = len(tops) == 1 and any(len(parts) > 1 or member.isdir() for member, parts in members)
                for member, parts in members:
                    parts = parts[1:] if strip else parts
                    if not parts:
                        continue
                    if ".." in parts:
                        raise Failed(f"{archive}: unsafe path {member.name}")
                    target = os.path.join(tmp, *parts)
                    if member.isdir():
                        os.makedirs(target, 0o755, exist_ok=True)
                    elif member.isfile():
                        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                        with tar.extractfile(member) as src, open(target, "wb") as out:
                            shutil.copyfileobj(src, out, 1 << 20)
                            out.flush()
                            os.fsync(out.fileno())
                        os.chmod(target, member.mode & 0o755)
                    elif member.issym() and not os.path.isabs(member.linkname) and ".." not in member.linkname.split("/"):
                        os.makedirs(os.path.dirname(target), 0o755, exist_ok=True)
                        os.symlink(member.linkname, target)
            if spec.get("probe"):
                # Before anything points at it: a binary that cannot even print its version is not installed.
                rc, out, err = self.run([os.path.join(tmp, spec["probe"][0])] + list(spec["probe"][1:]))
                if rc != 0:
                    raise Failed(f"the new release's {spec['probe'][0]} does not run ({' '.join(spec['probe'])}: exit {rc}): "
                                 f"{(out + err).strip()[-500:]}; the installed version stays")
            for dirpath, _, _ in os.walk(tmp):
                sync_dir(dirpath)
            self.remove(dest)
            os.rename(tmp, dest)
            sync_dir(os.path.dirname(dest))
            # The marker is what counts as installed: a cut before this line leaves the release to be unpacked again.
            self.write(marker, f"{digest.hexdigest()}\n".encode(), 0o644, os.geteuid(), os.getegid())
        except (OSError, tarfile.TarError) as err:
            self.remove(tmp)
            raise Failed(f"cannot unpack {archive}: {err}") from err
        except Failed:
            self.remove(tmp)
            raise
        finally:
            if os.path.lexists(archive):
                os.unlink(archive)
        self.note(dest, "release unpacked")

    def snapshot(self, unpack, versions, health, service=None):
        """Before the version link moves to a new major version of a running service: its snapshot API (POST
        unpack["snapshot"]["url"], the health check's CA and credentials); returns the snapshot's path, '' when
        none is due. A failed snapshot fails the run before anything is switched."""
        spec, link = unpack.get("snapshot"), (versions or {}).get("link")
        if not spec or not link or self.check_mode or not os.path.islink(link):
            return ""
        old, new = os.path.basename(os.path.realpath(link)), os.path.basename(os.path.normpath(unpack["dest"]))
        majors = [re.match(r"\d+", v) for v in (old, new)]
        if not all(majors) or int(majors[0].group()) >= int(majors[1].group()):
            return ""
        if service and self.run(["systemctl", "is-active", "--quiet", service])[0] != 0:
            return ""
        health = health or {}
        status, body = fetch(spec["url"], health.get("ca_path"), health.get("user"), health.get("password"), 600, "POST")
        try:
            answer = json.loads(body)
            name = (answer.get("data") or {}).get("name") or answer.get("snapshot") or ""
        except (ValueError, AttributeError):
            name = ""
        if status != 200 or not name:
            raise Failed(f"the snapshot before the upgrade from {old} to {new} failed ({spec['url']}: "
                         f"{'HTTP ' + str(status) if status else ''} {body.strip()[:300]}); nothing was switched. "
                         "The running version must have its admin API on: converge once with the snapshot option "
                         "on and the installed version, then upgrade.")
        self.note(os.path.join(spec["dir"], name), f"snapshot before the upgrade from {old} to {new}")
        return os.path.join(spec["dir"], name)

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

    def rollback(self):
        for step in reversed(self.undo):
            try:
                step()
            except OSError:
                pass  # best effort: the failure itself is reported
        self.undo = []


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
    module = quiet_module(argument_spec=ARGUMENT_SPEC, supports_check_mode=True)  # no journal: secrets
    result = run(module.params, module.check_mode, module._diff, module.run_command)
    if result.pop("failed", False):
        module.fail_json(**result)
    module.exit_json(**result)


if __name__ == "__main__":
    main()
