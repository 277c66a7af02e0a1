"""The Applications folder of tools/dashboards.py: the operators' Node.js services as the seeds describe them.

HTTP and runtime panels read the recording rules of app_profiles.yml (app:*), so they fill for prom-client,
express-prom-bundle, millisecond names and any collectDefaultMetrics prefix alike; the job and business panels read
api.yml's app_business_recording (app:*), recorded from each seed application's own metric names in seconds
(../shared/seeds: TradeMachine 000, EarnTrack 001, ProspectFlow 002, NexusTradeAI 004; tests/apps/seed-app.js
exposes them)."""

SEL = 'job=~"$job", instance=~"$instance"'
RATE = "[$__rate_interval]"


def ts(title, description, unit, *queries):
    return ("timeseries", title, description, unit, queries)


def stat(title, description, unit, *queries):
    return ("stat", title, description, unit, queries)


def gauge(title, description, unit, thresholds, maximum, *queries):
    """A gauge with threshold colours (green, then yellow and red from the given values) from 0 to maximum."""
    return ("gauge", title, description, unit, queries, {"thresholds": thresholds, "max": maximum})


def heatmap(title, description, unit, *queries):
    return ("heatmap", title, description, unit, queries)


def rec(series, by, op="sum"):
    """One of the seed metrics' recorded series (app:<series>, api.yml's app_business_recording) for the selected
    jobs and instances, aggregated by the given labels: sum for rates and counts, max for quantiles and states."""
    return f"{op} by ({by}) (app:{series}{{{SEL}}})"


QUANTILES = ("p50", "p90", "p95", "p99")
ERROR_SHARE = (f'(sum by (job) (app:http_requests:rate{{status_code=~"5..", {SEL}}}) '
               f"or 0 * sum by (job) (app:http_requests:rate{{{SEL}}})) / sum by (job) (app:http_requests:rate{{{SEL}}})")

TOP_ENDPOINTS = ts("Top endpoints", "The ten routes with the most requests.", "reqps",
                   (f"topk(10, sum by (job, method, route) (app:http_requests:rate{{{SEL}}}))", "{{job}} {{method}} {{route}}"))

APPLICATIONS = [
    # Seeds 002 and 003: health, rate, errors, p95 and the top endpoints on one page.
    ("Applications", "overview", "app-overview", "Applications overview", ["overview", "red"], "app:http_requests:rate", [
        ("Health and RED", [
            stat("Applications up", "Application targets whose last scrape succeeded.", "short",
                 (f'sum(up{{metrics_profile!="", {SEL}}})', "up")),
            stat("Request rate", "Requests per second of the selected applications.", "reqps",
                 (f"sum(app:http_requests:rate{{{SEL}}})", "requests")),
            stat("Errors (5xx share)", "Share of requests answered 5xx (HighErrorRate above 5 %).", "percentunit",
                 (f'(sum(app:http_requests:rate{{status_code=~"5..", {SEL}}}) or vector(0)) '
                  f"/ sum(app:http_requests:rate{{{SEL}}})", "5xx")),
            stat("p95 latency", "The slowest route's 95th percentile (HighLatency above 500 ms).", "s",
                 (f"max(app:http_request_duration_seconds:p95{{{SEL}}})", "p95")),
            ts("Health", "1 while the application answers its scrape.", "short",
               (f'up{{metrics_profile!="", {SEL}}}', "{{job}} {{instance}}")),
            TOP_ENDPOINTS,
            ts("Error share by application", "Share of requests answered 5xx.", "percentunit", (ERROR_SHARE, "{{job}}")),
            ts("p95 latency by application", "95th percentile of request duration.", "s",
               (f"max by (job) (app:http_request_duration_seconds:p95{{{SEL}}})", "{{job}}")),
        ]),
    ]),
    ("Applications", "http-traffic", "http-traffic", "HTTP services", ["http", "red"], "app:http_requests:rate", [
        ("Rate, errors, duration", [
            ts("Request rate by route", "Requests per second by route and method (app:http_requests:rate).", "reqps",
               (f"sum by (job, method, route) (app:http_requests:rate{{{SEL}}})", "{{job}} {{method}} {{route}}")),
            ts("Error rate (5xx share)", "Share of requests answered 5xx (HighErrorRate above 5 %).", "percentunit",
               (ERROR_SHARE, "{{job}}")),
            ts("Errors by route (4xx and 5xx)", "Share of each route's requests answered 4xx and 5xx (seed 003).",
               "percentunit", ('job_route:app_http_errors:ratio{job=~"$job"}', "{{job}} {{route}} {{class}}")),
            ts("Latency p50 / p90 / p95 / p99 by route", "Request duration quantiles (HighLatency: p95 above 500 ms).",
               "s", *[(f"max by (job, route) (app:http_request_duration_seconds:{q}{{{SEL}}})", f"{{{{job}}}} {{{{route}}}} {q}")
                      for q in QUANTILES]),
            heatmap("Latency heatmap", "Requests per duration bucket (http_request_duration_seconds).", "s",
                    (f"sum by (le) (rate(http_request_duration_seconds_bucket{{{SEL}}}{RATE}))", "{{le}}")),
            heatmap("Latency heatmap (milliseconds)", "Requests per duration bucket (http_request_duration_ms).", "ms",
                    (f"sum by (le) (rate(http_request_duration_ms_bucket{{{SEL}}}{RATE}))", "{{le}}")),
            ts("Status codes", "Requests per second by status code.", "reqps",
               (f"sum by (status_code) (app:http_requests:rate{{{SEL}}})", "{{status_code}}")),
            TOP_ENDPOINTS,
        ]),
    ]),
    ("Applications", "runtime", "app-runtime", "Node.js runtime", ["nodejs", "prom-client"], "app:process_resident_memory_bytes", [
        ("Event loop and memory", [
            ts("Event loop lag", "How late the event loop runs timers (HighEventLoopLag above 0.5 s).", "s",
               (f"app:nodejs_eventloop_lag_seconds{{{SEL}}}", "{{job}} {{instance}}")),
            ts("Heap", "V8 heap used and total.", "bytes",
               (f"app:nodejs_heap_size_used_bytes{{{SEL}}}", "{{instance}} used"),
               (f"app:nodejs_heap_size_total_bytes{{{SEL}}}", "{{instance}} total")),
            ts("Resident memory", "Process memory (HighMemoryUsage above 80 % of the host's).", "bytes",
               (f"app:process_resident_memory_bytes{{{SEL}}}", "{{job}} {{instance}}")),
            ts("Garbage collection time", "Share of time spent in garbage collection.", "percentunit",
               (f"app:nodejs_gc_duration_seconds:rate{{{SEL}}}", "{{job}} {{instance}}")),
            ts("CPU", "CPU seconds per second of the process.", "percentunit",
               (f"app:process_cpu_seconds:rate{{{SEL}}}", "{{job}} {{instance}}")),
            ts("Active handles", "Open handles (sockets, timers): a steady rise is a leak.", "short",
               (f"app:nodejs_active_handles{{{SEL}}}", "{{job}} {{instance}}")),
        ]),
    ]),
    ("Applications", "jobs", "app-jobs", "Job queues", ["queues", "jobs"], "up", [
        ("Queues and jobs", [
            ts("Queue depth", "Messages waiting per queue (HighQueueDepth above 1000).", "short",
               (rec("queue_depth:sum", "job, queue"), "{{job}} {{queue}}")),
            ts("Jobs executed", "Jobs per second by type and status (seed 001).", "ops",
               (rec("jobs_executed:rate", "job_type, status"), "{{job_type}} {{status}}")),
            ts("Job failure ratio", "Share of jobs that fail (HighJobFailureRate above 10 %, critical).", "percentunit",
               ('job:app_jobs_failed:ratio{job=~"$job"}', "{{job}} {{job_type}}")),
            ts("Job duration p95", "95th percentile of job duration (seed 000 by queue, seed 001 by type).", "s",
               (rec("job_duration_seconds:p95", "job, queue_name, job_type", "max"), "{{job}} {{queue_name}}{{job_type}}")),
            ts("Jobs by state", "Active, waiting and delayed jobs per queue (seed 000).", "short",
               (rec("queue_jobs:sum", "state, queue_name"), "{{state}} {{queue_name}}")),
            ts("Jobs completed and failed", "Jobs per second by queue (seed 000).", "ops",
               (rec("queue_jobs_completed:rate", "queue_name"), "completed {{queue_name}}"),
               (rec("queue_jobs_failed:rate", "queue_name"), "failed {{queue_name}}")),
            ts("Queue messages", "Messages per second published and consumed (seed 002).", "ops",
               (rec("queue_messages:rate", "queue, action"), "{{queue}} {{action}}")),
            ts("Message processing p95", "95th percentile of message processing (seed 002).", "s",
               (rec("queue_processing_duration_seconds:p95", "queue", "max"), "{{queue}}")),
        ]),
    ]),
    ("Applications", "business", "app-business", "Application business metrics", ["business"], "up", [
        ("TradeMachine: sessions and Prisma (seed 000)", [
            gauge("Active user sessions", "Logged-in sessions now (trade_machine_active_sessions).", "short",
                  (30, 80), 100, (f"sum(app:active_sessions:sum{{{SEL}}})", "sessions")),
            ts("Prisma queries", "Database queries per second through Prisma.", "ops",
               (rec("prisma_queries:rate", "job"), "{{job}}")),
            ts("Prisma query p95", "95th percentile of Prisma query time.", "s",
               (rec("prisma_query_duration_seconds:p95", "job", "max"), "{{job}}")),
            ts("Prisma connection pool", "Open, busy and idle connections.", "short",
               (rec("prisma_pool_connections:sum", "state"), "{{state}}")),
        ]),
        ("EarnTrack: database, cache, users, earnings (seed 001)", [
            stat("Active users", "Users active now (active_users).", "short", (f"sum(app:active_users:sum{{{SEL}}})", "users")),
            ts("Query p95 by type and table", "95th percentile by query type and table (database_query_duration_ms).", "s",
               (rec("database_query_duration_seconds:p95", "query_type, table", "max"), "{{query_type}} {{table}}")),
            ts("Slow queries", "Queries over 100 ms per second (HighSlowQueryRate above 10).", "ops",
               (rec("slow_queries:rate", "job"), "{{job}}")),
            ts("Cache hit ratio", "Hits / (hits + misses) (LowCacheHitRate below 50 %).", "percentunit",
               ('job:app_cache_hits:ratio{job=~"$job"}', "{{job}}")),
            ts("Cache size", "Bytes held by each cache.", "bytes", (rec("cache_size_bytes:sum", "cache_type"), "{{cache_type}}")),
            ts("WebSocket connections", "Open WebSocket connections.", "short",
               (rec("websocket_connections:sum", "job"), "{{job}}")),
            ts("Errors by type", "Application errors per second by type and endpoint.", "ops",
               (rec("errors:rate", "error_type, endpoint"), "{{error_type}} {{endpoint}}")),
            ts("Earnings processed", "Earnings records per second by platform.", "ops",
               (rec("earnings_processed:rate", "platform"), "{{platform}}")),
        ]),
        ("ProspectFlow: database, e-mail, prospects, campaigns (seed 002)", [
            stat("Active campaigns", "Campaigns running now.", "short", (f"sum(app:active_campaigns:sum{{{SEL}}})", "campaigns")),
            ts("Query p95 by operation", "95th percentile by operation (db_query_duration_seconds).", "s",
               (rec("db_query_duration_seconds:p95", "operation", "max"), "{{operation}}")),
            ts("Connection pool", "Database connections by state (DatabasePoolExhausted).", "short",
               (rec("db_pool_connections:sum", "state"), "{{state}}")),
            ts("E-mails sent", "E-mails per second by outcome.", "ops", (rec("emails_sent:rate", "success"), "success={{success}}")),
            ts("Drafts generated", "Drafts per second by outcome (HighDraftFailureRate).", "ops",
               (rec("drafts_generated:rate", "success"), "success={{success}}")),
            ts("Prospects processed", "Prospects per second by action.", "ops", (rec("prospects_processed:rate", "action"), "{{action}}")),
        ]),
        ("NexusTradeAI: WebSocket, data providers, circuit breakers (seed 004)", [
            stat("Open circuit breakers", "Breakers open now (circuit_breaker_state 2; CircuitBreakerOpen).", "short",
                 (f"count(app:circuit_breaker_state:max{{{SEL}}} == 2) or vector(0)", "open")),
            ts("Open WebSocket connections", "WebSocket connections open now.", "short",
               (rec("websocket_connections:sum", "job"), "{{job}}")),
            ts("WebSocket messages", "Messages per second in and out.", "ops",
               (rec("websocket_messages:rate", "direction"), "{{direction}}")),
            ts("Data provider p95", "95th percentile of each data provider's API latency.", "s",
               (rec("data_provider_request_duration_seconds:p95", "provider", "max"), "{{provider}}")),
            ts("Data provider errors", "Share of each provider's calls that fail (DataProviderFailures above 5 %).",
               "percentunit", ('job_provider:app_data_provider_errors:ratio{job=~"$job"}', "{{provider}}")),
            ts("Circuit breaker state", "0 closed, 1 half-open, 2 open.", "short",
               (rec("circuit_breaker_state:max", "breaker", "max"), "{{breaker}}")),
            ts("Circuit breaker transitions", "State changes per second by breaker and new state.", "ops",
               (rec("circuit_breaker_transitions:rate", "breaker, to"), "{{breaker}} to {{to}}")),
            ts("Redis cache hit ratio", "Redis hits / (hits + misses) (LowCacheHitRate below 50 %).", "percentunit",
               ('job:app_cache_hits:ratio{job=~"$job"}', "{{job}}")),
        ]),
    ]),
]
