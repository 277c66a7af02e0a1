#!/usr/bin/env python3
"""What the central single node (VictoriaMetrics, the mirror's release) holds on this machine (make bench-central).

Runs the release's binary on loopback with a fresh data directory, then:
  1. ingest: --series series written every --interval seconds (default back to back) for --duration seconds (a
     bounded synthetic load through /api/v1/import/prometheus from two writer threads, one sample per series and
     round): samples/s sustained, and the rounds that fell behind their interval;
  2. memory and disk per million series: the process' RSS and the data directory after a forced flush;
  3. a 24 h range query: --history series backfilled over 24 h at 1 min, then sum(rate(...[5m])) over 24 h at a
     1 min step, --repeat times (median latency).
Results: stdout and reports/bench-central.json.

  .venv/bin/python tools/bench_central.py [--series 1000000] [--duration 600] [--interval 0] [--history 2000]
"""
import argparse
import json
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
import urllib.parse
import urllib.request
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
import mirror  # noqa: E402
from common import ROOT, log  # noqa: E402

PORT = 18428
BASE = f"http://127.0.0.1:{PORT}"
BATCH = 50_000  # lines per import request


def post(path, body):
    request = urllib.request.Request(BASE + path, data=body, method="POST")
    with urllib.request.urlopen(request, timeout=120) as answer:
        return answer.read()


def get(path, **params):
    with urllib.request.urlopen(f"{BASE}{path}?{urllib.parse.urlencode(params)}", timeout=300) as answer:
        return json.loads(answer.read() or b"{}")


def wait_ready(proc):
    for _ in range(100):
        if proc.poll() is not None:
            raise SystemExit(f"victoria-metrics exited with {proc.returncode}")
        try:
            with urllib.request.urlopen(BASE + "/health", timeout=2):
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit("victoria-metrics did not become healthy")


def lines(start, stop, timestamp_ms, value):
    return "".join(f'bench_load{{series="{i}",host="h{i % 100}"}} {value} {timestamp_ms}\n' for i in range(start, stop)).encode()


def ingest(series, duration, interval, pool):
    """Rounds of one sample per series; returns (samples, seconds, rounds, late rounds)."""
    started, rounds, late, samples = time.monotonic(), 0, 0, 0
    while time.monotonic() - started < duration:
        round_start = time.monotonic()
        now_ms = int(time.time() * 1000)
        list(pool.map(lambda s: post("/api/v1/import/prometheus", lines(s, min(s + BATCH, series), now_ms, rounds)),
                      range(0, series, BATCH)))
        rounds += 1
        samples += series
        spent = time.monotonic() - round_start
        if interval and spent > interval:
            late += 1
        elif interval:
            time.sleep(max(0.0, min(interval - spent, duration - (time.monotonic() - started))))
    return samples, time.monotonic() - started, rounds, late


def backfill(history, pool):
    """`history` series of a counter over the last 24 h at 1 min."""
    now = int(time.time()) // 60 * 60
    steps = list(range(now - 86400, now, 60))

    def chunk(index):
        body = "".join(f'bench_history_total{{series="{i}"}} {n * (i % 7 + 1)} {ts * 1000}\n'
                       for n, ts in enumerate(steps) for i in range(index, min(index + 100, history)))
        post("/api/v1/import/prometheus", body.encode())
    list(pool.map(chunk, range(0, history, 100)))
    return len(steps) * history, now


def rss_bytes(pid):
    with open(f"/proc/{pid}/status", encoding="utf-8") as handle:
        return next(int(line.split()[1]) * 1024 for line in handle if line.startswith("VmRSS:"))


def dir_bytes(path):
    return int(subprocess.run(["du", "-sb", str(path)], capture_output=True, text=True, check=True).stdout.split()[0])


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--series", type=int, default=1_000_000)
    parser.add_argument("--duration", type=int, default=600, help="seconds of sustained ingest")
    parser.add_argument("--interval", type=float, default=0.0,
                        help="seconds between samples of a series (0: back to back, the most it sustains)")
    parser.add_argument("--history", type=int, default=2000, help="series backfilled over 24 h")
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    archive = mirror.build_component("victoriametrics")
    with tempfile.TemporaryDirectory(dir="/var/tmp") as tmp:
        with tarfile.open(archive) as tar:
            tar.extract("victoria-metrics-prod", tmp)
        data = Path(tmp) / "data"
        proc = subprocess.Popen([f"{tmp}/victoria-metrics-prod", f"-httpListenAddr=127.0.0.1:{PORT}",
                                 f"-storageDataPath={data}", "-retentionPeriod=100y", "-search.latencyOffset=0s",
                                 "-loggerLevel=ERROR"], stdout=subprocess.DEVNULL)
        try:
            wait_ready(proc)
            with ThreadPoolExecutor(max_workers=2) as pool:
                log(f"ingest: {args.series} series every {args.interval}s for {args.duration}s")
                samples, seconds, rounds, late = ingest(args.series, args.duration, args.interval, pool)
                log(f"backfill: {args.history} series over 24 h")
                history_samples, now = backfill(args.history, pool)
            post("/internal/force_flush", b"")
            time.sleep(2)
            memory = rss_bytes(proc.pid)
            latencies = []
            for _ in range(args.repeat):
                start = time.monotonic()
                answer = get("/api/v1/query_range", query="sum(rate(bench_history_total[5m]))",
                             start=now - 86400, end=now, step=60)
                latencies.append(time.monotonic() - start)
                assert answer["status"] == "success" and answer["data"]["result"], answer
            stored = get("/api/v1/series/count").get("data", [None])[0]
            # What the store holds of the ingest, not only what it accepted.
            kept = get("/api/v1/query", query="sum(count_over_time(bench_load[1d]))")["data"]["result"]
        finally:
            proc.terminate()  # a clean stop writes every in-memory part
            proc.wait(timeout=60)
        disk = dir_bytes(data)
    per_million = 1_000_000 / (args.series + args.history)
    result = {
        "series": args.series, "interval_s": args.interval, "duration_s": round(seconds, 1), "rounds": rounds,
        "late_rounds": late, "samples_per_s": round(samples / seconds), "stored_series": stored,
        "samples_sent": samples, "samples_stored": int(float(kept[0]["value"][1])) if kept else 0,
        "rss_mib_per_million_series": round(memory * per_million / 2**20, 1),
        "disk_mib_per_million_series": round(disk * per_million / 2**20, 1),
        "range_query_24h": {"series": args.history, "samples": history_samples, "step_s": 60,
                            "median_s": round(statistics.median(latencies), 3),
                            "max_s": round(max(latencies), 3)},
    }
    (ROOT / "reports").mkdir(exist_ok=True)
    (ROOT / "reports/bench-central.json").write_text(json.dumps(result, indent=2) + "\n")
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
