#!/usr/bin/env python3
"""Air-gapped artifact mirror in the upstream GitHub release layout.

Builds `<org>/<repo>/releases/download/v<ver>/<name>-<ver>.linux-<arch>.tar.gz` plus
`sha256sums.txt` from Debian packages, and serves the tree over HTTP on loopback.

Grafana is not in Debian: given a Grafana tarball (MONITORING_GRAFANA_TARBALL = URL or path),
it is added in dl.grafana.com's layout, `grafana/oss/release/grafana-<ver>.linux-amd64.tar.gz`
plus `<archive>.sha256`, and its version is what the tests install.

  python3 tools/mirror.py build            # into $MONITORING_CACHE/www/mirror
  python3 tools/mirror.py serve [--port N] # until interrupted
"""
import argparse
import functools
import gzip
import http.server
import io
import lzma
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import urllib.request
from contextlib import contextmanager
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import CACHE, MIRROR_PORT, WWW, die, log, sha256_file  # noqa: E402

DEBIAN = "http://deb.debian.org/debian"
SUITE = "forky"
ARCH = "amd64"

# component -> upstream repo, upstream version, {deb package: {path in deb: name in tarball}}
COMPONENTS = {
    "prometheus": ("prometheus/prometheus", "3.5.3", {
        "prometheus": {"usr/bin/prometheus": "prometheus"},
        "promtool": {"usr/bin/promtool": "promtool"},
    }),
    "alertmanager": ("prometheus/alertmanager", "0.33.1", {
        "prometheus-alertmanager": {"usr/bin/prometheus-alertmanager": "alertmanager",
                                    "usr/bin/amtool": "amtool"},
    }),
    "node_exporter": ("prometheus/node_exporter", "1.11.1", {
        "prometheus-node-exporter": {"usr/bin/prometheus-node-exporter": "node_exporter"},
    }),
    "blackbox_exporter": ("prometheus/blackbox_exporter", "0.28.0", {
        "prometheus-blackbox-exporter": {"usr/bin/prometheus-blackbox-exporter": "blackbox_exporter"},
    }),
    "postgres_exporter": ("prometheus-community/postgres_exporter", "0.19.1", {
        "prometheus-postgres-exporter": {"usr/bin/prometheus-postgres-exporter": "postgres_exporter"},
    }),
    "redis_exporter": ("oliver006/redis_exporter", "1.86.0", {
        "prometheus-redis-exporter": {"usr/bin/prometheus-redis-exporter": "redis_exporter"},
    }),
    "victoriametrics": ("VictoriaMetrics/VictoriaMetrics", "1.145.0", {
        "victoria-metrics": {"usr/bin/victoria-metrics": "victoria-metrics-prod"},
    }),
}
# Older releases, from an older Debian suite, for the upgrade tests: (component, version, suite).
OLDER = [("prometheus", "2.53.3", "trixie"), ("alertmanager", "0.28.1", "trixie"), ("node_exporter", "1.9.0", "trixie")]
# Archive names that differ from "<name>-<version>.linux-<arch>" upstream (redis_exporter puts a v before the
# version; VictoriaMetrics names the OS and arch first and packs the binary without a top directory).
ARCHIVE_NAMES = {"redis_exporter": "{name}-v{version}.linux-{arch}",
                 "victoriametrics": "victoria-metrics-linux-{arch}-v{version}"}
FLAT = {"victoriametrics"}


def archive_stem(name, version):
    return ARCHIVE_NAMES.get(name, "{name}-{version}.linux-{arch}").format(name=name, version=version, arch=ARCH)

DEBS = CACHE / "debs"
MIRROR = WWW / "mirror"


def _download(url, dest):
    tmp = dest.with_suffix(dest.suffix + ".part")
    with urllib.request.urlopen(url, timeout=120) as resp, open(tmp, "wb") as out:
        shutil.copyfileobj(resp, out)
    tmp.replace(dest)


@functools.lru_cache(maxsize=4)
def package_index(suite=SUITE):
    """{package: (version, filename, sha256)} from the suite's Packages index."""
    DEBS.mkdir(parents=True, exist_ok=True)
    index = DEBS / f"Packages-{suite}-{ARCH}.xz"
    if not index.exists():
        log(f"fetching Debian {suite} package index")
        _download(f"{DEBIAN}/dists/{suite}/main/binary-{ARCH}/Packages.xz", index)
    wanted = {pkg for _, _, debs in COMPONENTS.values() for pkg in debs}
    found, fields = {}, {}
    for line in lzma.open(index, "rt", encoding="utf-8", errors="replace"):
        line = line.rstrip("\n")
        if not line:
            if fields.get("Package") in wanted:
                found[fields["Package"]] = (fields["Version"], fields["Filename"], fields["SHA256"])
            fields = {}
        elif not line.startswith(" ") and ": " in line:
            key, value = line.split(": ", 1)
            fields[key] = value
    return found


def fetch_deb(package, suite=SUITE):
    """Download (once) and verify a .deb; returns its path."""
    version, filename, sha = package_index(suite)[package]
    dest = DEBS / Path(filename).name
    if dest.exists() and sha256_file(dest) == sha:
        return dest
    log(f"downloading {filename}")
    _download(f"{DEBIAN}/{filename}", dest)
    if sha256_file(dest) != sha:
        dest.unlink()
        die(f"{filename}: sha256 does not match Debian's index")
    return dest


def extract_deb(package, into, suite=SUITE):
    subprocess.run(["dpkg-deb", "-x", str(fetch_deb(package, suite)), str(into)], check=True)
    return Path(into)


def upstream_version(debian_version):
    """'3.5.3+ds1-6' -> '3.5.3'."""
    return debian_version.split("-")[0].split("+")[0].split("~")[0]


def _reproducible_targz(dest, topdir, files):
    """Write a tar.gz whose bytes depend only on the file contents (stable sha256); topdir "" packs them flat."""
    raw = io.BytesIO()
    with tarfile.open(fileobj=raw, mode="w", format=tarfile.GNU_FORMAT) as tar:
        if topdir:
            dirinfo = tarfile.TarInfo(topdir)
            dirinfo.type, dirinfo.mode, dirinfo.mtime = tarfile.DIRTYPE, 0o755, 0
            tar.addfile(dirinfo)
        for name, src in sorted(files.items()):
            data = Path(src).read_bytes()
            info = tarfile.TarInfo(f"{topdir}/{name}" if topdir else name)
            info.size, info.mtime = len(data), 0
            info.mode = 0o755 if name not in ("LICENSE", "NOTICE") else 0o644
            tar.addfile(info, io.BytesIO(data))
    with open(dest, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0, filename="") as gz:
        gz.write(raw.getvalue())


def build_component(name, version=None, suite=SUITE):
    """One release of a component (the pinned one, or an older version from another suite) into the mirror."""
    repo, pinned, debs = COMPONENTS[name]
    version = version or pinned
    release = MIRROR / repo / "releases" / "download" / f"v{version}"
    archive = f"{archive_stem(name, version)}.tar.gz"
    if (release / archive).exists() and (release / "sha256sums.txt").exists():
        return release / archive
    with tempfile.TemporaryDirectory() as tmp:
        files = {}
        for package, paths in debs.items():
            deb_version = package_index(suite)[package][0]
            if upstream_version(deb_version) != version:
                die(f"Debian {suite} has {package} {deb_version}, the mirror pins {version}: "
                    f"update COMPONENTS (or OLDER) in tools/mirror.py and the role default together")
            root = extract_deb(package, Path(tmp) / package, suite)
            for src, dst in paths.items():
                files[dst] = root / src
            copyright_file = root / "usr/share/doc" / package / "copyright"
            if copyright_file.exists():
                files.setdefault("LICENSE", copyright_file)
        release.mkdir(parents=True, exist_ok=True)
        _reproducible_targz(release / archive, "" if name in FLAT else archive[: -len(".tar.gz")], files)
    (release / "sha256sums.txt").write_text(f"{sha256_file(release / archive)}  {archive}\n")
    log(f"mirror: {repo} v{version}")
    return release / archive


def build():
    for name in COMPONENTS:
        build_component(name)
    for name, version, suite in OLDER:
        build_component(name, version, suite)
    add_grafana()
    return MIRROR


GRAFANA_NAME = re.compile(r"grafana(?:-enterprise)?[-_]v?(\d+\.\d+\.\d+(?:-[0-9A-Za-z.]+)?)[._](?:\d+_)?linux[-_]amd64\.tar\.gz$")
GRAFANA_RELEASE = MIRROR / "grafana" / "oss" / "release"


def add_grafana(source=None):
    """Put the Grafana tarball named by MONITORING_GRAFANA_TARBALL into the mirror; returns its version or ''."""
    source = source if source is not None else os.environ.get("MONITORING_GRAFANA_TARBALL", "")
    if not source:
        return ""
    match = GRAFANA_NAME.search(source)
    if not match:
        die(f"MONITORING_GRAFANA_TARBALL={source}: expected a name like grafana-12.4.0.linux-amd64.tar.gz")
    version = match.group(1)
    archive = GRAFANA_RELEASE / f"grafana-{version}.linux-{ARCH}.tar.gz"
    if not archive.exists():
        GRAFANA_RELEASE.mkdir(parents=True, exist_ok=True)
        if re.match(r"^(https?|ftp)://", source):
            log(f"mirror: downloading {source}")
            _download(source, archive)
            try:  # dl.grafana.com publishes <archive>.sha256 next to each archive
                with urllib.request.urlopen(source + ".sha256", timeout=30) as resp:
                    published = resp.read().decode().split()[0]
            except OSError:
                published = ""
            if published and published != sha256_file(archive):
                archive.unlink()
                die(f"{source}: sha256 differs from the published {source}.sha256")
        else:
            shutil.copyfile(source, archive)
    (GRAFANA_RELEASE / (archive.name + ".sha256")).write_text(sha256_file(archive) + "\n")
    log(f"mirror: grafana {version} from {source}")
    return version


def grafana_version():
    """Version of the Grafana tarball given to the tests, '' when none."""
    source = os.environ.get("MONITORING_GRAFANA_TARBALL", "")
    match = GRAFANA_NAME.search(source)
    return match.group(1) if match else ""


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextmanager
def serving(port=MIRROR_PORT):
    """Serve WWW on 127.0.0.1:port in a thread; yields the mirror base URL."""
    handler = functools.partial(_QuietHandler, directory=str(WWW))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{port}/mirror"
    finally:
        server.shutdown()
        server.server_close()


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["build", "serve"])
    parser.add_argument("--port", type=int, default=MIRROR_PORT)
    args = parser.parse_args()
    build()
    if args.action == "serve":
        with serving(args.port) as url:
            log(f"serving {MIRROR} at {url} (Ctrl-C stops)")
            threading.Event().wait()


if __name__ == "__main__":
    main()
