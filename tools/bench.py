#!/usr/bin/env python3
"""Speed benchmark of site.yml on fresh labs of 5 and 10 hosts (make bench), in two profiles: plain (the lab)
and secure (the production shape: internal CA, TLS and basic auth on every endpoint).

Host 1 runs Prometheus, host 2 Alertmanager, every host node_exporter (Debian 12 and 13
alternating), same container options as the lab and Molecule. For each profile and size: converge on fresh
hosts (on --converge-repeat fresh labs), then the idempotent re-run and --check on the converged
lab, each --repeat times; the median counts (single runs on 2 cores vary by +-15%). Wall time of each ansible-playbook run, with
the changed count of the recap. Results: stdout and reports/bench.json.

  .venv/bin/python tools/bench.py [--profiles plain secure] [--sizes 5 10] [--repeat 5] [--converge-repeat 3] [--keep]

Target of the secure profile: re-run and --check within 1.5 x the plain profile's at the same size.
"""
import argparse
import json
import re
import shutil
import statistics
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lab  # noqa: E402
from common import ROOT, log  # noqa: E402

NETWORK, LABEL = "monitoring-bench", "bench"
TARGETS = {"converge": 50, "re-run": 25, "check": 25}  # seconds, 5 hosts (issue #6)
SECURE_FACTOR = 1.5  # secure re-run and --check against plain (issue #12)
# The production shape on top of the lab's variables (extra vars: they win over group_vars).
SECURE_VARS = """\
---
monitoring_tls_enabled: true
monitoring_pki_enabled: true
monitoring_pki_dir: "{{ inventory_dir }}/pki"
monitoring_tls_cert_file: "{{ monitoring_pki_dir }}/hosts/{{ inventory_hostname }}.crt"
monitoring_tls_key_file: "{{ monitoring_pki_dir }}/hosts/{{ inventory_hostname }}.key"
monitoring_tls_ca_file: "{{ monitoring_pki_dir }}/ca-bundle.crt"
monitoring_basic_auth_users: {prometheus: Bench-scrape-pw-4c1e}
"""
RECAP = re.compile(r"^\S+\s+:\s+ok=\d+\s+changed=(\d+)\s+unreachable=(\d+)\s+failed=(\d+)", re.M)


def bench_hosts(size):
    return {f"bench-{i}": ("12" if i % 2 else "13", ["prometheus"] if i == 1 else ["alertmanager"] if i == 2 else [])
            for i in range(1, size + 1)}


def timed_run(inventory_dir, *extra):
    proc, seconds = lab.converge(inventory_dir, list(extra), quiet=True)
    recaps = RECAP.findall(proc.stdout)
    changed = sum(int(c) for c, _, _ in recaps)
    failed = proc.returncode != 0 or any(u != "0" or f != "0" for _, u, f in recaps)
    if failed:
        print(proc.stdout[-6000:], proc.stderr[-2000:])
    return {"seconds": round(seconds, 1), "changed": changed, "ok": not failed}


def repeated(inventory_dir, times, *extra):
    """Median wall time of `times` runs; every run must be clean."""
    runs = [timed_run(inventory_dir, *extra) for _ in range(times)]
    return {"seconds": round(statistics.median(r["seconds"] for r in runs), 1), "runs": [r["seconds"] for r in runs],
            "changed": max(r["changed"] for r in runs), "ok": all(r["ok"] for r in runs)}


def bench(size, keep, repeat, converge_repeat, profile="plain"):
    hosts = bench_hosts(size)
    # Next to the other inventories: the lab's group_vars find the repository's files relative to it.
    inventory_dir = ROOT / "inventories/bench"
    shutil.rmtree(inventory_dir, ignore_errors=True)
    inventory_dir.mkdir()
    (inventory_dir / "hosts.yml").write_text(lab.inventory(hosts))
    (inventory_dir / "group_vars").symlink_to(ROOT / "inventories/lab/group_vars")
    extra = []
    if profile == "secure":
        (inventory_dir / "secure.yml").write_text(SECURE_VARS)
        extra = ["-e", f"@{inventory_dir / 'secure.yml'}"]

    def fresh():
        shutil.rmtree(inventory_dir / "pki", ignore_errors=True)
        lab.remove_hosts(NETWORK, LABEL)
        lab.start_hosts(hosts, NETWORK, LABEL)
        return timed_run(inventory_dir, *extra)

    converges = [fresh() for _ in range(converge_repeat)]
    result = {"converge": {"seconds": round(statistics.median(r["seconds"] for r in converges), 1),
                           "runs": [r["seconds"] for r in converges], "changed": max(r["changed"] for r in converges),
                           "ok": all(r["ok"] for r in converges)},
              "re-run": repeated(inventory_dir, repeat, *extra), "check": repeated(inventory_dir, repeat, *extra, "--check")}
    if not keep:
        lab.remove_hosts(NETWORK, LABEL)
    return result


def target(profile, size, name, run, results):
    """(limit in seconds, how it is derived) or (None, '')."""
    if profile == "secure":
        plain = results.get("plain", {}).get(size, {}).get(name)
        return (SECURE_FACTOR * plain["seconds"], f"{SECURE_FACTOR} x plain") if plain and name != "converge" else (None, "")
    if size == 5:
        return TARGETS[name], ""
    five = results.get(profile, {}).get(5)
    return (1.3 * five[name]["seconds"], "1.3 x 5 hosts") if five else (None, "")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--profiles", nargs="+", choices=["plain", "secure"], default=["plain", "secure"])
    parser.add_argument("--sizes", nargs="+", type=int, default=[5, 10])
    parser.add_argument("--repeat", type=int, default=5, help="runs of the re-run and of --check (median)")
    parser.add_argument("--converge-repeat", type=int, default=3, help="fresh labs converged (median)")
    parser.add_argument("--keep", action="store_true", help="leave the last lab running")
    args = parser.parse_args()
    results = {}
    for profile in args.profiles:
        for size in args.sizes:
            log(f"bench: {profile}, {size} hosts")
            last = args.keep and profile == args.profiles[-1] and size == args.sizes[-1]
            results.setdefault(profile, {})[size] = bench(size, last, args.repeat, args.converge_repeat, profile)
    print(f"\n{'profile':<8} {'hosts':>5} {'run':<9} {'seconds':>8} {'changed':>8}  {'runs':<28}  target")
    for profile, sizes in results.items():
        for size, runs in sizes.items():
            for name, run in runs.items():
                limit, how = target(profile, size, name, run, results)
                goal = "" if limit is None else f"<= {limit:.1f} s{f' ({how})' if how else ''}: " + (
                    "met" if run["seconds"] <= limit else "MISSED")
                times = " ".join(str(r) for r in run.get("runs", [run["seconds"]]))
                print(f"{profile:<8} {size:>5} {name:<9} {run['seconds']:>8} {run['changed']:>8}  {times:<28}  {goal}"
                      f"{'' if run['ok'] else '  FAILED'}")
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports/bench.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["ok"] for sizes in results.values() for runs in sizes.values() for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
