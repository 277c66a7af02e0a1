#!/usr/bin/env python3
"""Writes the dashboards the project ships (files/grafana/dashboards/<Folder>/<name>.json).

The JSON files are the source Grafana reads; this script is how they are kept consistent
(one panel shape, the datasource picked by a variable). Run it after editing the panels below.
"""
import json
from pathlib import Path

OUT = Path(__file__).resolve().parents[1] / "files/grafana/dashboards"
DS = {"type": "prometheus", "uid": "${datasource}"}

# (folder, file, uid, title, tags, variables, [(title, unit, [(expr, legend)])])
DASHBOARDS = [
    ("Infrastructure", "node-exporter", "node-exporter", "Hosts (node_exporter)", ["node"],
     [("instance", "label_values(node_uname_info, instance)")], [
         ("CPU utilisation", "percentunit",
          [('1 - avg by (instance) (rate(node_cpu_seconds_total{mode="idle", instance=~"$instance"}[$__rate_interval]))',
            "{{instance}}")]),
         ("Memory used", "percentunit",
          [('1 - node_memory_MemAvailable_bytes{instance=~"$instance"} / node_memory_MemTotal_bytes{instance=~"$instance"}',
            "{{instance}}")]),
         ("Load (1m) per CPU", "short",
          [('node_load1{instance=~"$instance"} / on (instance) count by (instance) '
            '(node_cpu_seconds_total{mode="idle", instance=~"$instance"})', "{{instance}}")]),
         ("Filesystem used", "percentunit",
          [('1 - node_filesystem_avail_bytes{fstype!~"tmpfs|overlay", instance=~"$instance"} '
            '/ node_filesystem_size_bytes{fstype!~"tmpfs|overlay", instance=~"$instance"}', "{{instance}} {{mountpoint}}")]),
         ("Network received", "Bps",
          [('rate(node_network_receive_bytes_total{device!="lo", instance=~"$instance"}[$__rate_interval])',
            "{{instance}} {{device}}")]),
         ("Network sent", "Bps",
          [('rate(node_network_transmit_bytes_total{device!="lo", instance=~"$instance"}[$__rate_interval])',
            "{{instance}} {{device}}")]),
     ]),
    ("Applications", "http-traffic", "http-traffic", "HTTP traffic", ["http", "prom-client"],
     [("job", "label_values(http_requests_total, job)")], [
         ("Request rate by route", "reqps",
          [('sum by (route) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))', "{{route}}")]),
         ("Error rate (5xx share)", "percentunit",
          # "or ... * 0": 0 rather than no data while nothing fails.
          [('(sum by (job) (rate(http_requests_total{job=~"$job", status_code=~"5.."}[$__rate_interval])) '
            'or 0 * sum by (job) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))) '
            '/ sum by (job) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))', "{{job}}")]),
         ("Latency p50 / p95 / p99", "s",
          [(f'histogram_quantile({q}, sum by (le) (rate(http_request_duration_seconds_bucket{{job=~"$job"}}[$__rate_interval])))',
            f"p{int(q * 100)}") for q in (0.5, 0.95, 0.99)]),
         ("Status codes", "reqps",
          [('sum by (status_code) (rate(http_requests_total{job=~"$job"}[$__rate_interval]))', "{{status_code}}")]),
     ]),
    ("Applications", "runtime", "app-runtime", "Application runtime", ["nodejs", "prom-client"],
     [("job", "label_values(process_resident_memory_bytes, job)")], [
         ("Resident memory", "bytes", [('process_resident_memory_bytes{job=~"$job"}', "{{instance}}")]),
         ("CPU", "percentunit", [('rate(process_cpu_seconds_total{job=~"$job"}[$__rate_interval])', "{{instance}}")]),
         ("Event loop lag", "s", [('nodejs_eventloop_lag_seconds{job=~"$job"}', "{{instance}}")]),
         ("Garbage collection time", "s",
          [('sum by (instance) (rate(nodejs_gc_duration_seconds_sum{job=~"$job"}[$__rate_interval]))', "{{instance}}")]),
     ]),
    # The exporters' services: their panels are proven with data in molecule/exporters.
    ("Services", "postgres", "postgres", "PostgreSQL (postgres_exporter)", ["postgres"],
     [("instance", "label_values(pg_up, instance)")], [
         ("Up", "short", [('pg_up{instance=~"$instance"}', "{{instance}}")]),
         ("Connections used", "percentunit",
          [('sum by (instance) (pg_stat_activity_count{instance=~"$instance"}) / on (instance) '
            'max by (instance) (pg_settings_max_connections{instance=~"$instance"})', "{{instance}}")]),
         ("Transactions", "ops",
          [('sum by (instance) (rate(pg_stat_database_xact_commit{instance=~"$instance"}[$__rate_interval]))', "{{instance}} commit"),
           ('sum by (instance) (rate(pg_stat_database_xact_rollback{instance=~"$instance"}[$__rate_interval]))', "{{instance}} rollback")]),
         ("Database size", "bytes", [('pg_database_size_bytes{instance=~"$instance"}', "{{instance}} {{datname}}")]),
         ("Cache hit ratio", "percentunit",
          [('sum by (instance) (rate(pg_stat_database_blks_hit{instance=~"$instance"}[$__rate_interval])) / '
            '(sum by (instance) (rate(pg_stat_database_blks_hit{instance=~"$instance"}[$__rate_interval])) + '
            'sum by (instance) (rate(pg_stat_database_blks_read{instance=~"$instance"}[$__rate_interval])) > 0)', "{{instance}}")]),
         ("Deadlocks", "short",
          [('sum by (instance) (increase(pg_stat_database_deadlocks{instance=~"$instance"}[$__rate_interval]))', "{{instance}}")]),
     ]),
    ("Services", "redis", "redis", "Redis (redis_exporter)", ["redis"],
     [("instance", "label_values(redis_up, instance)")], [
         ("Up", "short", [('redis_up{instance=~"$instance"}', "{{instance}}")]),
         ("Memory used", "bytes", [('redis_memory_used_bytes{instance=~"$instance"}', "{{instance}}")]),
         ("Connected clients", "short", [('redis_connected_clients{instance=~"$instance"}', "{{instance}}")]),
         ("Commands", "ops",
          [('sum by (instance) (rate(redis_commands_processed_total{instance=~"$instance"}[$__rate_interval]))', "{{instance}}")]),
         ("Cache hit rate", "percentunit",
          # "or ... * 0": 0 rather than no data while no key is looked up.
          [('(sum by (instance) (rate(redis_keyspace_hits_total{instance=~"$instance"}[$__rate_interval])) / '
            '(sum by (instance) (rate(redis_keyspace_hits_total{instance=~"$instance"}[$__rate_interval])) + '
            'sum by (instance) (rate(redis_keyspace_misses_total{instance=~"$instance"}[$__rate_interval])) > 0)) '
            'or 0 * redis_up{instance=~"$instance"}', "{{instance}}")]),
         ("Evicted and expired keys", "ops",
          [('rate(redis_evicted_keys_total{instance=~"$instance"}[$__rate_interval])', "{{instance}} evicted"),
           ('rate(redis_expired_keys_total{instance=~"$instance"}[$__rate_interval])', "{{instance}} expired")]),
     ]),
    ("Services", "probes", "probes", "Probes (blackbox_exporter)", ["blackbox"],
     [("job", "label_values(probe_success, job)")], [
         ("Probe success", "short", [('probe_success{job=~"$job"}', "{{job}} {{instance}}")]),
         ("Probe duration", "s", [('probe_duration_seconds{job=~"$job"}', "{{instance}}")]),
         ("HTTP status code", "short", [('probe_http_status_code{job=~"$job"}', "{{instance}}")]),
         ("Certificate expires in", "s", [('probe_ssl_earliest_cert_expiry{job=~"$job"} - time()', "{{instance}}")]),
     ]),
    ("Monitoring", "stack", "monitoring-stack", "Monitoring stack", ["prometheus", "alertmanager"], [], [
        ("Targets up by job", "short", [("sum by (job) (up)", "{{job}} up"), ("count by (job) (up == 0)", "{{job}} down")]),
        ("Firing alerts", "short", [('count by (alertname) (ALERTS{alertstate="firing"})', "{{alertname}}")]),
        ("Prometheus head series", "short", [("prometheus_tsdb_head_series", "{{instance}}")]),
        ("Rule evaluation failures", "short",
         [("sum by (instance) (rate(prometheus_rule_evaluation_failures_total[$__rate_interval]))", "{{instance}}")]),
        ("Notifications sent by Alertmanager", "short",
         [("sum by (integration) (rate(alertmanager_notifications_total[$__rate_interval]))", "{{integration}}")]),
        ("Config reload success", "short",
         [("prometheus_config_last_reload_successful", "prometheus {{instance}}"),
          ("alertmanager_config_last_reload_successful", "alertmanager {{instance}}")]),
    ]),
]


def panel(index, title, unit, targets):
    return {
        "id": index + 1, "type": "timeseries", "title": title, "datasource": DS,
        "gridPos": {"h": 8, "w": 12, "x": (index % 2) * 12, "y": (index // 2) * 8},
        "fieldConfig": {"defaults": {"unit": unit}, "overrides": []},
        "targets": [{"refId": chr(65 + i), "datasource": DS, "expr": expr, "legendFormat": legend}
                    for i, (expr, legend) in enumerate(targets)],
    }


def dashboard(uid, title, tags, variables, panels):
    templating = [{"name": "datasource", "type": "datasource", "query": "prometheus", "label": "Prometheus"}]
    templating += [{"name": name, "type": "query", "datasource": DS, "query": {"query": query, "refId": "vars"},
                    "definition": query, "includeAll": True, "multi": True, "allValue": ".*", "refresh": 2}
                   for name, query in variables]
    return {
        "uid": uid, "title": title, "tags": ["monitoring-stack"] + tags, "timezone": "browser",
        "schemaVersion": 39, "version": 1, "refresh": "30s", "editable": False,
        "time": {"from": "now-1h", "to": "now"},
        "templating": {"list": templating},
        "panels": [panel(i, *p) for i, p in enumerate(panels)],
    }


def main():
    for folder, name, uid, title, tags, variables, panels in DASHBOARDS:
        path = OUT / folder / f"{name}.json"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(dashboard(uid, title, tags, variables, panels), indent=2) + "\n")
        print(path.relative_to(OUT.parents[2]))


if __name__ == "__main__":
    main()
