#!/usr/bin/env python3
"""Scrape gap during a rolling upgrade of the Prometheus HA pair (make bench-rolling).

Four containers (same options as the lab): two Prometheus replicas, the central VictoriaMetrics (with
Alertmanager) and a node, node_exporter on each; scrape interval 5 s. The older releases (Debian trixie:
Prometheus 2.53.3, Alertmanager 0.28.1, node_exporter 1.9.0) are converged first and scrape for --warmup
seconds; then site.yml upgrades to the default versions (serial: one replica at a time) and the pair scrapes
--after seconds more. Over that window, for each target's `up` series:
  - central: scrape intervals (aligned 5 s windows) with no sample in the central store (both replicas write to it; the goal is 0);
  - each replica alone: intervals missing from its own TSDB (its restart), for comparison;
  - down: samples with up == 0 (the target itself restarting: node_exporter is upgraded too).
Results: stdout and reports/bench-rolling.json.

  .venv/bin/python tools/bench_rolling.py [--warmup 60] [--after 60] [--keep]
"""
import argparse
import json
import shutil
import sys
import time
import urllib.parse
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import lab  # noqa: E402
from common import ROOT, log  # noqa: E402

NETWORK, LABEL = "monitoring-rolling", "rolling"
INTERVAL = 5
HOSTS = {"roll-prom1": ("12", ["prometheus"]), "roll-prom2": ("13", ["prometheus"]),
         "roll-central": ("12", ["central", "alertmanager"]), "roll-node": ("13", [])}
OLDER = {"prometheus_version": "2.53.3", "alertmanager_version": "0.28.1", "node_exporter_version": "1.9.0"}
VARS = f"""\
---
prometheus_scrape_interval: {INTERVAL}s
prometheus_scrape_timeout: 4s
prometheus_evaluation_interval: {INTERVAL}s
victoriametrics_dedup_min_scrape_interval: {INTERVAL}s
victoriametrics_retention_period: 1d
"""


def inventory():
    body = {"all": {"vars": {"ansible_connection": "community.docker.docker"}, "children": {
        "prometheus": {"hosts": {"roll-prom1": {}, "roll-prom2": {}}},
        "alertmanager": {"hosts": {"roll-central": {}}}, "central": {"hosts": {"roll-central": {}}},
        "grafana": {}, "node_exporter": {"hosts": {name: {} for name in HOSTS}}}}}
    return "---\n" + json.dumps(body, indent=1) + "\n"


def address(name):
    return lab.container_state(name)["NetworkSettings"]["Networks"][NETWORK]["IPAddress"]


def get(url, **params):
    with urllib.request.urlopen(f"{url}?{urllib.parse.urlencode(params, doseq=True)}", timeout=60) as answer:
        return answer.read().decode()


def empty_windows(timestamps, start, end):
    """Scrape intervals without a sample: the starts (epoch s) of the aligned INTERVAL-long windows in [start, end)
    that hold none (the central store keeps one sample per window of -dedup.minScrapeInterval, from either replica)."""
    first, last = int(start // INTERVAL) + 1, int(end // INTERVAL)  # whole windows only
    seen = {int(t // INTERVAL) for t in timestamps}
    return [window * INTERVAL for window in range(first, last) if window not in seen]


def key(metric):
    return f"{metric.get('job')}/{metric.get('instance')}"


def central_series(start, end):
    """{target: (timestamps, down samples)} of `up` in the central store (replica dropped on write)."""
    series = {}
    text = get(f"http://{address('roll-central')}:8428/api/v1/export", **{"match[]": "up", "start": start, "end": end})
    for line in text.splitlines():
        row = json.loads(line)
        stamps, down = series.setdefault(key(row["metric"]), ([], []))
        stamps += [t / 1000 for t in row["timestamps"]]
        down += [t for t, v in zip(row["timestamps"], row["values"]) if v == 0]
    return series


def replica_series(name, start, end):
    """{target: timestamps} of `up` in one replica's own TSDB."""
    answer = json.loads(get(f"http://{address(name)}:9090/api/v1/query", query=f"up[{int(end - start)}s]", time=end))
    return {key(r["metric"]): [float(t) for t, _ in r["values"]] for r in answer["data"]["result"]}


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--warmup", type=int, default=60, help="seconds the older releases scrape before the upgrade")
    parser.add_argument("--after", type=int, default=60, help="seconds measured after the upgrade")
    parser.add_argument("--keep", action="store_true", help="leave the containers running")
    args = parser.parse_args()
    inventory_dir = ROOT / "inventories/bench-rolling"
    shutil.rmtree(inventory_dir, ignore_errors=True)
    inventory_dir.mkdir()
    (inventory_dir / "hosts.yml").write_text(inventory())
    (inventory_dir / "group_vars").symlink_to(ROOT / "inventories/lab/group_vars")
    extra = inventory_dir.parent / "bench-rolling.vars.yml"  # outside the inventory: not parsed as a source
    extra.write_text(VARS)
    lab.remove_hosts(NETWORK, LABEL)
    lab.start_hosts(HOSTS, NETWORK, LABEL)
    try:
        log("bench-rolling: the older releases")
        older = [arg for name, value in OLDER.items() for arg in ("-e", f"{name}={value}")]
        rc, _ = lab.converge(inventory_dir, ["-e", f"@{extra}", *older])
        if rc:
            return rc
        time.sleep(args.warmup)
        start = time.time()
        log("bench-rolling: rolling upgrade to the default versions")
        rc, upgrade_seconds = lab.converge(inventory_dir, ["-e", f"@{extra}"])
        if rc:
            return rc
        upgraded = time.time()
        time.sleep(args.after + 15)  # the last remote_write batches reach the central store
        end = upgraded + args.after
        central = central_series(start, end)
        replicas = {name: replica_series(name, start, end) for name in ("roll-prom1", "roll-prom2")}
    finally:
        extra.unlink(missing_ok=True)
        if not args.keep:
            lab.remove_hosts(NETWORK, LABEL)
            shutil.rmtree(inventory_dir, ignore_errors=True)
    rows = {}
    for target, (stamps, down) in sorted(central.items()):
        # when, to compare the central store's empty windows with the replicas' restarts (their own)
        empty = {"central": empty_windows(stamps, start, end),
                 **{name: empty_windows(replicas[name].get(target, []), start, end) for name in replicas}}
        rows[target] = {"down_samples": len(down), **{f"{source}_empty_windows": windows for source, windows in empty.items()},
                        **{f"{source}_missed": len(windows) for source, windows in empty.items()}}
    result = {"interval_s": INTERVAL, "window_s": round(end - start), "upgrade_run_s": round(upgrade_seconds, 1),
              "targets": rows, "central_missed_total": sum(r["central_missed"] for r in rows.values())}
    print(f"\nwindow {result['window_s']} s (upgrade run {result['upgrade_run_s']} s), scrape interval {INTERVAL} s")
    print(f"{'target':<36} {'central':>8} {'prom1':>6} {'prom2':>6} {'up=0':>5}")
    for target, row in rows.items():
        print(f"{target:<36} {row['central_missed']:>8} {row['roll-prom1_missed']:>6} {row['roll-prom2_missed']:>6}"
              f" {row['down_samples']:>5}")
    print(f"missed intervals in the central store: {result['central_missed_total']} (goal 0)")
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports/bench-rolling.json").write_text(json.dumps(result, indent=2) + "\n")
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
