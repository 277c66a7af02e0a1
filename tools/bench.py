#!/usr/bin/env python3
"""Speed benchmark of site.yml on fresh labs of 5 and 10 hosts (make bench).

Host 1 runs Prometheus, host 2 Alertmanager, every host node_exporter (Debian 12 and 13
alternating), same container options as the lab and Molecule. For each size: converge on fresh
hosts (on --converge-repeat fresh labs), then the idempotent re-run and --check on the converged
lab, each --repeat times; the median counts (single runs on 2 cores vary by +-15%). Wall time of each ansible-playbook run, with
the changed count of the recap. Results: stdout and reports/bench.json.

  .venv/bin/python tools/bench.py [--sizes 5 10] [--repeat 5] [--converge-repeat 3] [--keep]
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


def fresh_converge(hosts, inventory_dir):
    lab.remove_hosts(NETWORK, LABEL)
    lab.start_hosts(hosts, NETWORK, LABEL)
    return timed_run(inventory_dir)


def bench(size, keep, repeat, converge_repeat):
    hosts = bench_hosts(size)
    # Next to the other inventories: the lab's group_vars find the repository's files relative to it.
    inventory_dir = ROOT / "inventories/bench"
    shutil.rmtree(inventory_dir, ignore_errors=True)
    inventory_dir.mkdir()
    (inventory_dir / "hosts.yml").write_text(lab.inventory(hosts))
    (inventory_dir / "group_vars").symlink_to(ROOT / "inventories/lab/group_vars")
    converges = [fresh_converge(hosts, inventory_dir) for _ in range(converge_repeat)]
    result = {"converge": {"seconds": round(statistics.median(r["seconds"] for r in converges), 1),
                           "runs": [r["seconds"] for r in converges], "changed": max(r["changed"] for r in converges),
                           "ok": all(r["ok"] for r in converges)},
              "re-run": repeated(inventory_dir, repeat), "check": repeated(inventory_dir, repeat, "--check")}
    if not keep:
        lab.remove_hosts(NETWORK, LABEL)
    return result


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", nargs="+", type=int, default=[5, 10])
    parser.add_argument("--repeat", type=int, default=5, help="runs of the re-run and of --check (median)")
    parser.add_argument("--converge-repeat", type=int, default=3, help="fresh labs converged (median)")
    parser.add_argument("--keep", action="store_true", help="leave the last lab running")
    args = parser.parse_args()
    results = {}
    for size in args.sizes:
        log(f"bench: {size} hosts")
        results[size] = bench(size, args.keep and size == args.sizes[-1], args.repeat, args.converge_repeat)
    print(f"\n{'hosts':>5} {'run':<9} {'seconds':>8} {'changed':>8}  {'runs':<28}  target")
    for size, runs in results.items():
        for name, run in runs.items():
            limit = TARGETS[name] if size == 5 else 1.3 * results[5][name]["seconds"] if 5 in results else None
            target = "" if limit is None else f"<= {limit:.1f} s{' (1.3 x 5 hosts)' if size != 5 else ''}: " + (
                "met" if run["seconds"] <= limit else "MISSED")
            runs = " ".join(str(r) for r in run.get("runs", [run["seconds"]]))
            print(f"{size:>5} {name:<9} {run['seconds']:>8} {run['changed']:>8}  {runs:<28}  {target}{'' if run['ok'] else '  FAILED'}")
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports/bench.json").write_text(json.dumps(results, indent=2) + "\n")
    return 0 if all(r["ok"] for runs in results.values() for r in runs.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
