#!/usr/bin/env python3
"""Everything the lab and the tests need on a fresh Debian 12 machine (run as root).

- .venv with the pinned requirements.txt (reinstalled only when the file changes)
- Debian packages: docker.io, debootstrap
- a Docker engine that answers (starts dockerd in the background when `docker info` fails)
- the seed apps' npm libraries (tests/apps: `npm ci` from package-lock.json, again only when it changes)
- the artifact mirror and the systemd base images

  python3 tools/bootstrap.py
"""
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, ROOT, VENV, die, log, run, sha256_file  # noqa: E402

APT_PACKAGES = {"dockerd": "docker.io", "debootstrap": "debootstrap", "dpkg-deb": "dpkg", "npm": "npm"}
SEED_APPS = ROOT / "tests/apps"


def ensure_venv():
    stamp = VENV / ".requirements.sha256"
    wanted = sha256_file(ROOT / "requirements.txt")
    if stamp.exists() and stamp.read_text() == wanted:
        return
    log(f"creating .venv with the pinned requirements (log: {CACHE / 'pip.log'})")
    CACHE.mkdir(parents=True, exist_ok=True)
    if not (VENV / "bin" / "python").exists():
        run([sys.executable, "-m", "venv", VENV])
    with open(CACHE / "pip.log", "w") as out:  # pip's index warnings would drown the test output
        run([VENV / "bin/pip", "install", "--disable-pip-version-check", "-r", ROOT / "requirements.txt"],
            stdout=out, stderr=subprocess.STDOUT)
    stamp.write_text(wanted)


def ensure_seed_apps():
    """prom-client, express-prom-bundle and express for the seed apps the tests run (copied into the hosts)."""
    stamp = SEED_APPS / "node_modules/.package-lock.sha256"
    wanted = sha256_file(SEED_APPS / "package-lock.json")
    if stamp.exists() and stamp.read_text() == wanted:
        return
    log("installing the seed apps' npm libraries (npm ci)")
    run(["npm", "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SEED_APPS, stdout=subprocess.DEVNULL)
    stamp.write_text(wanted)


def ensure_apt_packages():
    missing = [pkg for cmd, pkg in APT_PACKAGES.items() if shutil.which(cmd) is None]
    if not missing:
        return
    if os.geteuid() != 0:
        die(f"missing {' '.join(missing)}: run as root or install them first")
    log(f"installing {' '.join(missing)}")
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    run(["apt-get", "update", "-qq"], env=env)
    run(["apt-get", "install", "-y", "-qq", *missing], env=env, stdout=subprocess.DEVNULL)


def docker_answers():
    return subprocess.run(["docker", "info"], capture_output=True).returncode == 0


def ensure_docker():
    if docker_answers():
        return
    dockerd = shutil.which("dockerd")
    if dockerd is None:
        die("dockerd not found after installing docker.io")
    log("starting dockerd in the background")
    CACHE.mkdir(parents=True, exist_ok=True)
    with open(CACHE / "dockerd.log", "ab") as out:
        subprocess.Popen([dockerd], stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    for _ in range(60):
        if docker_answers():
            return
        time.sleep(1)
    die(f"dockerd did not answer within 60 s; see {CACHE / 'dockerd.log'}")


def main():
    ensure_apt_packages()
    ensure_venv()
    ensure_seed_apps()
    ensure_docker()
    import images
    import mirror
    mirror.build()
    images.main([])


if __name__ == "__main__":
    main()
