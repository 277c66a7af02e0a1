"""monitoring_files' file work: accounts' ids, modes, parents, atomic writes with fsync, files, directories,
links and absent entries, unit files checked by systemd-analyze verify, pruning (FilesMixin of Applier)."""
from __future__ import annotations

import grp
import os
import pwd
import shlex
import shutil
import stat
import tempfile

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


class FilesMixin:
    """The entries of the plan; the Applier provides note(), command(), run, check_mode, undo and the transaction."""

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
