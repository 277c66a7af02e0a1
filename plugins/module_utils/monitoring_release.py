"""monitoring_files' release work: the staging directory, the archive checked against its sha256 and unpacked
into a versioned directory, older versions pruned, the TSDB snapshot before a major upgrade (ReleaseMixin of
Applier)."""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import stat
import tarfile

try:
    from .monitoring_fs import Failed, sync_dir
    from .monitoring_http import fetch
except ImportError:  # on the host through the lean runner, which loads the module_utils by their names
    from monitoring_fs import Failed, sync_dir
    from monitoring_http import fetch


class ReleaseMixin:
    """Uses the Applier's note(), run, write(), remove(), make_parents(), check_mode and warnings."""

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
