#!/usr/bin/env python3
"""Writes the dashboards the project ships (files/grafana/dashboards/<Folder>/<name>.json) with Grafana's
dashboards-as-code library (grafana-foundation-sdk): every dashboard, panel, variable and query is built by
its typed builders, so a field Grafana's schema does not have cannot be written.

Every dashboard has the variables datasource (no hard-coded datasource UID), job and instance; every panel a
description and a unit. The HTTP dashboard reads the metrics profiles' recording rules (app:*), so it works for
prom-client, express-prom-bundle and custom metric names alike. Run it after editing the panels below; the unit
tests regenerate the files and fail on a difference:

  .venv/bin/python tools/dashboards.py            # write
  .venv/bin/python tools/dashboards.py --check    # exit 1 when a committed file differs
"""
import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders.common import ReduceDataOptions, VizLegendOptions, VizTooltipOptions
from grafana_foundation_sdk.builders.dashboard import Dashboard, DatasourceVariable, QueryVariable, Row, ThresholdsConfig
from grafana_foundation_sdk.builders.gauge import Panel as Gauge
from grafana_foundation_sdk.builders.heatmap import Panel as Heatmap
from grafana_foundation_sdk.builders.prometheus import Dataquery
from grafana_foundation_sdk.builders.stat import Panel as Stat
from grafana_foundation_sdk.builders.timeseries import Panel as Timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.common import LegendDisplayMode, LegendPlacement, SortOrder, TooltipDisplayMode
from grafana_foundation_sdk.models.dashboard import (DataSourceRef, GridPos, Threshold, ThresholdsMode, VariableRefresh,
                                                     VariableSort)
from grafana_foundation_sdk.models.prometheus import PromQueryFormat

sys.path.insert(0, str(Path(__file__).resolve().parent))
from dashboards_apps import APPLICATIONS  # noqa: E402

OUT = Path(__file__).resolve().parents[1] / "files/grafana/dashboards"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
SEL = 'job=~"$job", instance=~"$instance"'


def ts(title, description, unit, *queries):
    return ("timeseries", title, description, unit, queries)


def stat(title, description, unit, *queries):
    return ("stat", title, description, unit, queries)


# folder, file, uid, title, tags, metric the job/instance variables list, [rows: (title, [panels])]
DASHBOARDS = [
    ("Monitoring", "stack", "monitoring-stack", "Stack overview", ["overview"], "up", [
        ("Targets and alerts", [
            stat("Targets up", "Targets whose last scrape succeeded.", "short", (f"sum(up{{{SEL}}})", "up")),
            stat("Targets down", "Targets whose last scrape failed (TargetDown fires after 5m).", "short",
                 (f"count(up{{{SEL}}} == 0) or vector(0)", "down")),
            stat("Firing alerts", "Alerts firing now, the always-firing Watchdog included.", "short",
                 ('count(ALERTS{alertstate="firing"}) or vector(0)', "firing")),
            stat("Earliest certificate expiry", "Time left on the first HTTPS certificate of the stack to expire "
                 "(blackbox probes, job stack-tls).", "s", ("min(probe_ssl_earliest_cert_expiry) - time()", "expires in")),
            ts("Targets up by job", "Share of each job's targets that answer.", "percentunit",
               (f"sum by (job) (up{{{SEL}}}) / count by (job) (up{{{SEL}}})", "{{job}}")),
            ts("Firing alerts by name", "Firing alerts, by alert name.", "short",
               ('count by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}")),
        ]),
        ("Scrape health", [
            ts("Scrape duration", "The slowest scrape of each job; near scrape_timeout means timeouts.", "s",
               (f"max by (job) (scrape_duration_seconds{{{SEL}}})", "{{job}}")),
            ts("Samples per scrape", "Samples each job returns per scrape: a jump is a cardinality change.", "short",
               (f"sum by (job) (scrape_samples_scraped{{{SEL}}})", "{{job}}")),
            ts("Certificate expiry by endpoint", "Time left on each HTTPS endpoint's certificate.", "s",
               ("min by (instance) (probe_ssl_earliest_cert_expiry) - time()", "{{instance}}")),
        ]),
    ]),
    ("Infrastructure", "node-exporter", "node-exporter", "Hosts (node_exporter)", ["node"], "node_uname_info", [
        ("CPU and memory", [
            ts("CPU utilisation", "Busy share of all CPUs (instance:node_cpu_utilisation:rate5m).", "percentunit",
               (f"instance:node_cpu_utilisation:rate5m{{{SEL}}}", "{{instance}}")),
            ts("Memory used", "1 - MemAvailable / MemTotal.", "percentunit",
               (f"1 - instance:node_memory_available:ratio{{{SEL}}}", "{{instance}}")),
            ts("Load (1m) per CPU", "Run queue per CPU; above 1 means waiting for CPU.", "short",
               (f'node_load1{{{SEL}}} / on (instance) count by (instance) (node_cpu_seconds_total{{mode="idle", {SEL}}})',
                "{{instance}}")),
            ts("Major page faults", "Pages read back from disk: memory pressure.", "ops",
               (f"rate(node_vmstat_pgmajfault{{{SEL}}}[$__rate_interval])", "{{instance}}")),
        ]),
        ("Disk", [
            ts("Filesystem used", "Used share of each filesystem.", "percentunit",
               (f"1 - instance:node_filesystem_avail:ratio{{{SEL}}}", "{{instance}} {{mountpoint}}")),
            ts("Disk I/O utilisation", "Share of time each device was busy.", "percentunit",
               (f"rate(node_disk_io_time_seconds_total{{{SEL}}}[$__rate_interval])", "{{instance}} {{device}}")),
            ts("Disk throughput", "Bytes read and written per device.", "Bps",
               (f"rate(node_disk_read_bytes_total{{{SEL}}}[$__rate_interval])", "{{instance}} {{device}} read"),
               (f"rate(node_disk_written_bytes_total{{{SEL}}}[$__rate_interval])", "{{instance}} {{device}} written")),
        ]),
        ("Network and system", [
            ts("Network received", "Bytes received per interface.", "Bps",
               (f'rate(node_network_receive_bytes_total{{device!="lo", {SEL}}}[$__rate_interval])', "{{instance}} {{device}}")),
            ts("Network sent", "Bytes sent per interface.", "Bps",
               (f'rate(node_network_transmit_bytes_total{{device!="lo", {SEL}}}[$__rate_interval])', "{{instance}} {{device}}")),
            ts("Network errors", "Receive and transmit errors per interface.", "pps",
               (f"rate(node_network_receive_errs_total{{{SEL}}}[$__rate_interval]) "
                f"+ rate(node_network_transmit_errs_total{{{SEL}}}[$__rate_interval])", "{{instance}} {{device}}")),
            ts("Failed systemd units", "Units systemd reports as failed (HostSystemdUnitFailed).", "short",
               (f'sum by (instance) (node_systemd_unit_state{{state="failed", {SEL}}})', "{{instance}}")),
            ts("Clock offset", "Offset from the NTP reference (HostClockSkew).", "s",
               (f"node_timex_offset_seconds{{{SEL}}}", "{{instance}}")),
        ]),
    ]),
    ("Monitoring", "prometheus", "prometheus", "Prometheus", ["prometheus"], "prometheus_build_info", [
        ("Ingestion and TSDB", [
            ts("Samples appended", "Samples written to the head block per second.", "ops",
               (f"rate(prometheus_tsdb_head_samples_appended_total{{{SEL}}}[$__rate_interval])", "{{instance}}")),
            ts("Head series", "Series in memory: the main driver of memory use.", "short",
               (f"prometheus_tsdb_head_series{{{SEL}}}", "{{instance}}")),
            ts("Storage", "Bytes on disk in blocks and in the WAL.", "bytes",
               (f"prometheus_tsdb_storage_blocks_bytes{{{SEL}}}", "{{instance}} blocks"),
               (f"prometheus_tsdb_wal_storage_size_bytes{{{SEL}}}", "{{instance}} WAL")),
            ts("Compactions and WAL corruptions", "Compactions run and failed, WAL corruptions (alerts fire on failures).", "short",
               (f"increase(prometheus_tsdb_compactions_total{{{SEL}}}[1h])", "{{instance}} compactions"),
               (f"increase(prometheus_tsdb_compactions_failed_total{{{SEL}}}[1h])", "{{instance}} failed"),
               (f"increase(prometheus_tsdb_wal_corruptions_total{{{SEL}}}[1h])", "{{instance}} WAL corruptions")),
        ]),
        ("Rules and alerts", [
            ts("Rule group evaluation time", "The slowest rule group: above its interval, evaluations are skipped.", "s",
               (f"max by (rule_group) (prometheus_rule_group_last_duration_seconds{{{SEL}}})", "{{rule_group}}")),
            ts("Rule evaluation failures", "Failed rule evaluations per second.", "ops",
               (f"sum by (instance) (rate(prometheus_rule_evaluation_failures_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")),
            ts("Alerts sent to Alertmanager", "Notifications sent, failed and dropped per second.", "ops",
               (f"sum by (instance) (rate(prometheus_notifications_sent_total{{{SEL}}}[$__rate_interval]))", "{{instance}} sent"),
               (f"sum by (instance) (rate(prometheus_notifications_errors_total{{{SEL}}}[$__rate_interval]))", "{{instance}} failed"),
               (f"sum by (instance) (rate(prometheus_notifications_dropped_total{{{SEL}}}[$__rate_interval]))", "{{instance}} dropped")),
        ]),
        ("Remote write", [
            ts("Remote write samples", "Samples sent to each remote endpoint, and those that failed.", "ops",
               (f"sum by (instance, url) (rate(prometheus_remote_storage_samples_total{{{SEL}}}[$__rate_interval]))",
                "{{instance}} {{url}}"),
               (f"sum by (instance, url) (rate(prometheus_remote_storage_samples_failed_total{{{SEL}}}[$__rate_interval]))",
                "{{instance}} {{url}} failed")),
            ts("Remote write delay", "How far the newest sample sent lags the newest sample read (RemoteWriteBehind).", "s",
               (f"prometheus_remote_storage_highest_timestamp_in_seconds{{{SEL}}} - ignoring (remote_name, url) group_right "
                f"prometheus_remote_storage_queue_highest_sent_timestamp_seconds{{{SEL}}}", "{{instance}} {{url}}")),
        ]),
    ]),
    ("Monitoring", "alertmanager", "alertmanager", "Alertmanager", ["alertmanager"], "alertmanager_build_info", [
        ("Notifications", [
            ts("Notifications by integration", "Notifications sent per second, per integration.", "ops",
               (f"sum by (integration) (rate(alertmanager_notifications_total{{{SEL}}}[$__rate_interval]))", "{{integration}}")),
            ts("Failed notifications", "Failed notifications per second (AlertmanagerNotificationsFailing).", "ops",
               (f"sum by (integration) (rate(alertmanager_notifications_failed_total{{{SEL}}}[$__rate_interval]))",
                "{{integration}}")),
            ts("Notification latency p95", "Time to deliver a notification, 95th percentile.", "s",
               ("histogram_quantile(0.95, sum by (le, integration) "
                f"(rate(alertmanager_notification_latency_seconds_bucket{{{SEL}}}[$__rate_interval])))", "{{integration}}")),
            ts("Alerts", "Active and suppressed alerts, and alerts received per second.", "short",
               (f"sum by (state) (alertmanager_alerts{{{SEL}}})", "{{state}}"),
               (f"sum (rate(alertmanager_alerts_received_total{{{SEL}}}[$__rate_interval]))", "received/s")),
        ]),
        ("Cluster", [
            ts("Cluster members", "Members each instance sees (AlertmanagerClusterMembersInconsistent).", "short",
               (f"alertmanager_cluster_members{{{SEL}}}", "{{instance}}")),
            ts("Silences", "Silences by state.", "short", (f"sum by (state) (alertmanager_silences{{{SEL}}})", "{{state}}")),
        ]),
    ]),
    ("Monitoring", "central", "central-store", "Central store (VictoriaMetrics)", ["victoriametrics"], "vm_app_version", [
        ("Ingestion and storage", [
            ts("Rows ingested", "Samples written per second, all replicas' remote write together.", "ops",
               (f"sum by (instance) (rate(vm_rows_inserted_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")),
            ts("Active series", "Series that received samples in the last hour.", "short",
               (f'vm_cache_entries{{type="storage/hour_metric_ids", {SEL}}}', "{{instance}}")),
            ts("Data size", "Bytes the store holds on disk.", "bytes",
               (f"sum by (instance) (vm_data_size_bytes{{{SEL}}})", "{{instance}}")),
            ts("Free disk", "Free space of the storage path (CentralStoreDiskFilling).", "bytes",
               (f"vm_free_disk_space_bytes{{{SEL}}}", "{{instance}}")),
            ts("HTTP requests", "Requests per second by path (writes and queries).", "reqps",
               (f"sum by (path) (rate(vm_http_requests_total{{{SEL}}}[$__rate_interval]))", "{{path}}")),
        ]),
    ]),
    *APPLICATIONS,
    # The exporters' services: their panels are proven with data in molecule/apps.
    ("Services", "postgres", "postgres", "Database (PostgreSQL and the applications' queries)", ["postgres", "database"],
     "pg_up", [
         ("PostgreSQL (postgres_exporter)", [
             ts("Up", "1 while postgres_exporter reaches PostgreSQL (PostgresDown).", "short", (f"pg_up{{{SEL}}}", "{{instance}}")),
             ts("Connections used", "Share of max_connections in use (PostgresTooManyConnections).", "percentunit",
                (f"sum by (instance) (pg_stat_activity_count{{{SEL}}}) / on (instance) "
                 f"max by (instance) (pg_settings_max_connections{{{SEL}}})", "{{instance}}")),
             ts("Transactions", "Commits and rollbacks per second.", "ops",
                (f"sum by (instance) (rate(pg_stat_database_xact_commit{{{SEL}}}[$__rate_interval]))", "{{instance}} commit"),
                (f"sum by (instance) (rate(pg_stat_database_xact_rollback{{{SEL}}}[$__rate_interval]))", "{{instance}} rollback")),
             ts("Database size", "Bytes per database.", "bytes", (f"pg_database_size_bytes{{{SEL}}}", "{{instance}} {{datname}}")),
             ts("Cache hit ratio", "Blocks found in shared buffers.", "percentunit",
                (f"sum by (instance) (rate(pg_stat_database_blks_hit{{{SEL}}}[$__rate_interval])) / "
                 f"(sum by (instance) (rate(pg_stat_database_blks_hit{{{SEL}}}[$__rate_interval])) + "
                 f"sum by (instance) (rate(pg_stat_database_blks_read{{{SEL}}}[$__rate_interval])) > 0)", "{{instance}}")),
             ts("Deadlocks", "Deadlocks per interval (PostgresDeadlocks).", "short",
                (f"sum by (instance) (increase(pg_stat_database_deadlocks{{{SEL}}}[$__rate_interval]))", "{{instance}}")),
         ]),
         ("The applications' queries", [
             ts("Query rate", "Queries per second the applications time, by operation.", "ops",
                ("sum by (job, operation) (rate(db_query_duration_seconds_count[$__rate_interval]))", "{{job}} {{operation}}")),
             ts("Average query time", "Mean query duration, by operation.", "s",
                ("sum by (job, operation) (rate(db_query_duration_seconds_sum[$__rate_interval])) / "
                 "sum by (job, operation) (rate(db_query_duration_seconds_count[$__rate_interval]))", "{{job}} {{operation}}")),
             ts("Slow queries", "Slow queries per second (HighSlowQueryRate above 10/s).", "ops",
                ("sum by (job) (rate(slow_queries_total[$__rate_interval]))", "{{job}}")),
             ts("Connection pool", "Pool connections by state (DatabasePoolExhausted).", "short",
                ("sum by (job, state) (db_connection_pool_size)", "{{job}} {{state}}")),
         ]),
     ]),
    ("Services", "redis", "redis", "Cache (Redis and the applications' cache)", ["redis", "cache"], "redis_up", [
        ("Redis (redis_exporter)", [
            ts("Up", "1 while redis_exporter reaches Redis (RedisDown).", "short", (f"redis_up{{{SEL}}}", "{{instance}}")),
            ts("Memory used", "Bytes Redis uses (RedisMemoryHigh against maxmemory).", "bytes",
               (f"redis_memory_used_bytes{{{SEL}}}", "{{instance}}")),
            ts("Connected clients", "Client connections (RedisTooManyClients).", "short",
               (f"redis_connected_clients{{{SEL}}}", "{{instance}}")),
            ts("Commands", "Commands processed per second.", "ops",
               (f"sum by (instance) (rate(redis_commands_processed_total{{{SEL}}}[$__rate_interval]))", "{{instance}}")),
            ts("Cache hit rate", "Key lookups that hit (RedisCacheHitRateLow).", "percentunit",
               # "or ... * 0": 0 rather than no data while no key is looked up.
               (f"(sum by (instance) (rate(redis_keyspace_hits_total{{{SEL}}}[$__rate_interval])) / "
                f"(sum by (instance) (rate(redis_keyspace_hits_total{{{SEL}}}[$__rate_interval])) + "
                f"sum by (instance) (rate(redis_keyspace_misses_total{{{SEL}}}[$__rate_interval])) > 0)) "
                f"or 0 * redis_up{{{SEL}}}", "{{instance}}")),
            ts("Evicted and expired keys", "Keys evicted (memory full) and expired per second.", "ops",
               (f"rate(redis_evicted_keys_total{{{SEL}}}[$__rate_interval])", "{{instance}} evicted"),
               (f"rate(redis_expired_keys_total{{{SEL}}}[$__rate_interval])", "{{instance}} expired")),
        ]),
        ("The applications' cache", [
            ts("Application cache hit rate", "Hits of the applications' own caches (LowCacheHitRate below 50 %).", "percentunit",
               ("job:app_cache_hits:ratio", "{{job}}")),
        ]),
    ]),
    ("Services", "probes", "probes", "Probes (blackbox_exporter)", ["blackbox"], "probe_success", [
        ("Probes", [
            ts("Probe success", "1 when the probe succeeds (ProbeFailed).", "short",
               (f"probe_success{{{SEL}}}", "{{job}} {{instance}}")),
            ts("Probe duration", "Time the probe took (ProbeSlow above 2 s).", "s", (f"probe_duration_seconds{{{SEL}}}", "{{instance}}")),
            ts("HTTP status code", "Status code of HTTP probes.", "short", (f"probe_http_status_code{{{SEL}}}", "{{instance}}")),
            ts("Certificate expires in", "Time left on the certificate (CertificateExpiresSoon within 14 days).", "s",
               (f"probe_ssl_earliest_cert_expiry{{{SEL}}} - time()", "{{instance}}")),
        ]),
    ]),
]


def variable(name, query):
    return (QueryVariable(name).label(name).datasource(DS).query(query).include_all(True).multi(True).all_value(".*")
            .refresh(VariableRefresh.ON_TIME_RANGE_CHANGED).sort(VariableSort.ALPHABETICAL_ASC))


def build_panel(kind, title, description, unit, queries, grid, options=None):
    targets = [Dataquery().expr(expr).legend_format(legend).ref_id(chr(65 + i)).datasource(DS)
               for i, (expr, legend) in enumerate(queries)]
    if kind == "stat":
        built = Stat().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
    elif kind == "gauge":
        yellow, red = options["thresholds"]
        built = (Gauge().reduce_options(ReduceDataOptions().calcs(["lastNotNull"]).values(False))
                 .min(0).max(options["max"]).show_threshold_markers(True)
                 .thresholds(ThresholdsConfig().mode(ThresholdsMode.ABSOLUTE).steps(
                     [Threshold(None, "green"), Threshold(yellow, "yellow"), Threshold(red, "red")])))
    elif kind == "heatmap":
        targets = [t.format(PromQueryFormat.HEATMAP) for t in targets]
        built = Heatmap()
    else:
        built = (Timeseries().legend(VizLegendOptions().display_mode(LegendDisplayMode.LIST)
                                     .placement(LegendPlacement.BOTTOM).show_legend(True))
                 .tooltip(VizTooltipOptions().mode(TooltipDisplayMode.MULTI).sort(SortOrder.DESCENDING)))
    built = built.title(title).description(description).unit(unit).datasource(DS).grid_pos(grid)
    for target in targets:
        built = built.with_target(target)
    return built


def build(uid, title, tags, variable_metric, rows):
    board = (Dashboard(title).uid(uid).tags(["monitoring-stack"] + tags).timezone("browser").refresh("30s")
             .time("now-1h", "now").readonly()
             .with_variable(DatasourceVariable("datasource").label("Data source").type("prometheus"))
             .with_variable(variable("job", f"label_values({variable_metric}, job)"))
             .with_variable(variable("instance", f'label_values({variable_metric}{{job=~"$job"}}, instance)')))
    y, next_id = 0, 1
    for row_title, panels in rows:
        board = board.with_row(Row(row_title).id(next_id).grid_pos(GridPos(h=1, w=24, x=0, y=y)))
        next_id, y = next_id + 1, y + 1
        stats = [p for p in panels if p[0] == "stat"]
        for index, spec in enumerate(panels):
            if spec[0] == "stat":
                grid = GridPos(h=4, w=24 // len(stats), x=(24 // len(stats)) * index, y=y)
            else:
                place = index - len(stats)
                grid = GridPos(h=8, w=12, x=(place % 2) * 12, y=y + (4 if stats else 0) + (place // 2) * 8)
            board = board.with_panel(build_panel(*spec[:5], grid, *spec[5:]).id(next_id))
            next_id += 1
        y += (4 if stats else 0) + ((len(panels) - len(stats) + 1) // 2) * 8
    return board


def render():
    """{path relative to files/grafana/dashboards: JSON text}."""
    out = {}
    for folder, name, uid, title, tags, variable_metric, rows in DASHBOARDS:
        model = json.loads(json.dumps(build(uid, title, tags, variable_metric, rows).build(), cls=JSONEncoder))
        out[f"{folder}/{name}.json"] = json.dumps(model, indent=2, sort_keys=True) + "\n"
    return out


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--check", action="store_true", help="exit 1 when a committed file differs")
    args = parser.parse_args()
    wanted = render()
    present = {str(p.relative_to(OUT)) for p in OUT.glob("*/*.json")}
    differ = sorted(p for p, text in wanted.items() if not (OUT / p).exists() or (OUT / p).read_text() != text)
    stale = sorted(p for p in present - set(wanted)
                   if "monitoring-stack" in (json.loads((OUT / p).read_text()).get("tags") or []))
    if args.check:
        for path in differ + stale:
            print(f"differs from tools/dashboards.py: files/grafana/dashboards/{path}")
        return 1 if differ or stale else 0
    # Only what this script wrote (its tag) goes: a dashboard an operator exported into the folder stays.
    for path in stale:
        if "monitoring-stack" in (json.loads((OUT / path).read_text()).get("tags") or []):
            (OUT / path).unlink()
    for path in differ:
        (OUT / path).parent.mkdir(parents=True, exist_ok=True)
        (OUT / path).write_text(wanted[path])
        print(f"files/grafana/dashboards/{path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
