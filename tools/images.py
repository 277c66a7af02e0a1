#!/usr/bin/env python3
"""Systemd base images for Molecule and the lab (Debian 12 and 13), built offline.

debootstrap --variant=minbase, then `docker import`. Cached by a tag that hashes the recipe,
so a second run costs nothing. The stable tag `monitoring-stack/debian:<release>` is what
Molecule platforms and the lab use.

  python3 tools/images.py [12 13]
"""
import hashlib
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import log, run  # noqa: E402
from mirror import DEBIAN, extract_deb  # noqa: E402

RELEASES = {"12": "bookworm", "13": "trixie"}
REPO = "monitoring-stack/debian"
# dbus: node_exporter's systemd collector talks to systemd over the system bus, as on any server.
# nodejs: Debian's Node.js for the seed apps (tests/apps) the tests run on their app hosts.
PACKAGES = "systemd,systemd-sysv,dbus,python3,python3-apt,sudo,ca-certificates,iproute2,procps,nodejs"
RECIPE_VERSION = "3"
# Units that only make sense on a real console or kernel.
MASK = ["getty.target", "console-getty.service", "systemd-firstboot.service",
        "systemd-udevd.service", "systemd-modules-load.service", "sys-kernel-config.mount",
        "sys-kernel-debug.mount", "sys-kernel-tracing.mount", "systemd-remount-fs.service"]


def _image_exists(tag):
    return subprocess.run(["docker", "image", "inspect", tag], capture_output=True).returncode == 0


def _recipe_hash(release):
    text = "|".join([RECIPE_VERSION, release, PACKAGES, " ".join(MASK)])
    return hashlib.sha256(text.encode()).hexdigest()[:12]


def _customise(rootfs):
    for unit in MASK:
        link = rootfs / "etc/systemd/system" / unit
        link.unlink(missing_ok=True)
        link.symlink_to("/dev/null")
    (rootfs / "etc/machine-id").write_text("")
    # Debian's alertmanager build reads its default templates from here (upstream embeds them).
    with tempfile.TemporaryDirectory() as tmp:
        src = extract_deb("prometheus-alertmanager", tmp) / "usr/share/prometheus/alertmanager"
        dst = rootfs / "usr/share/prometheus/alertmanager"
        dst.mkdir(parents=True, exist_ok=True)
        for tmpl in src.glob("*.tmpl"):
            shutil.copy2(tmpl, dst / tmpl.name)
    for cache in ("var/cache/apt/archives", "var/lib/apt/lists"):
        for item in (rootfs / cache).glob("*"):
            if item.is_file():
                item.unlink()


def build(release):
    suite = RELEASES[release]
    tag = f"{REPO}:{release}-{_recipe_hash(release)}"
    if not _image_exists(tag):
        log(f"building {tag} (debootstrap {suite}, about a minute)")
        with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
            rootfs = Path(tmp) / "rootfs"
            run(["debootstrap", "--variant=minbase", f"--include={PACKAGES}", suite, rootfs, DEBIAN],
                stdout=subprocess.DEVNULL)
            _customise(rootfs)
            tar = subprocess.Popen(["tar", "-C", rootfs, "-c", "."], stdout=subprocess.PIPE)
            run(["docker", "import",
                 "--change", 'CMD ["/lib/systemd/systemd"]',
                 "--change", "ENV container=docker",
                 "-", tag], stdin=tar.stdout, stdout=subprocess.DEVNULL)
            if tar.wait() != 0:
                raise SystemExit("tar of the rootfs failed")
    run(["docker", "tag", tag, f"{REPO}:{release}"])
    return f"{REPO}:{release}"


def main(argv):
    for release in argv or sorted(RELEASES):
        build(release)


if __name__ == "__main__":
    main(sys.argv[1:])
