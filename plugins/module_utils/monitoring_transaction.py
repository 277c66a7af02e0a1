"""monitoring_files' transaction: backups of what a run replaces, the previous working state kept for a
rollback (the health check without its password), the paths written as secrets, the undo of a failed run
(TransactionMixin of Applier)."""
from __future__ import annotations

import json
import os
import shutil
import stat
import tempfile


class TransactionMixin:
    """Uses the Applier's write(), remove(), manifest, previous, remembered, saved, undo and was_secret."""

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

    def rollback(self):
        for step in reversed(self.undo):
            try:
                step()
            except OSError:
                pass  # best effort: the failure itself is reported
        self.undo = []
