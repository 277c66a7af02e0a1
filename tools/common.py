"""Paths and small helpers shared by the project's tools (stdlib only)."""
import hashlib
import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("MONITORING_CACHE", Path.home() / ".cache" / "monitoring-stack"))
VENV = ROOT / ".venv"
WWW = CACHE / "www"  # served over HTTP; the mirror lives in WWW / "mirror"
MIRROR_PORT = int(os.environ.get("MONITORING_MIRROR_PORT", "8999"))


def log(msg):
    print(f"==> {msg}", flush=True)


def run(cmd, check=True, **kw):
    """Run a command, echoing it; returns CompletedProcess."""
    print("+ " + " ".join(str(c) for c in cmd), flush=True)
    return subprocess.run([str(c) for c in cmd], check=check, **kw)


def venv_bin(name):
    return VENV / "bin" / name


def sha256_file(path):
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def die(msg):
    print(f"ERROR: {msg}", file=sys.stderr, flush=True)
    sys.exit(1)
