#!/usr/bin/env node
// The seeds' applications (../../../shared/seeds), instrumented as they are: the real prom-client and
// express-prom-bundle, each seed's metric names and labels. For the tests only.
//
//   node seed-app.js --seed 000|001|002|003|004|none --port 3001 [--token-file F] [--tls-cert F --tls-key F]
//   GET  /health            {"status":"ok"}, no auth (what blackbox probes)
//   GET  /metrics           the registry (Authorization: Bearer <token> when --token-file is given)
//   POST /control?error_ratio=0.5&latency=0.8   share of 5xx answers, seconds per request (default 5-200 ms)
//   GET|POST /api/...       the routes; the app calls them itself about 10 times a second, so rates never empty
'use strict';

const fs = require('fs');
const http = require('http');
const https = require('https');
const express = require('express');
const client = require('prom-client');
const promBundle = require('express-prom-bundle');

const args = {};
for (let i = 2; i < process.argv.length; i += 2) args[process.argv[i].replace(/^--/, '')] = process.argv[i + 1];
const seed = args.seed || '003';
const port = Number(args.port || 3001);
const token = args['token-file'] ? fs.readFileSync(args['token-file'], 'utf8').trim() : '';
const tls = args['tls-cert'] ? { cert: fs.readFileSync(args['tls-cert']), key: fs.readFileSync(args['tls-key']) } : null;
const state = { errorRatio: 0, latency: null };
const register = client.register;
const pick = (items) => items[Math.floor(Math.random() * items.length)];
const every = (ms, fn) => setInterval(fn, ms).unref();

const app = express();
app.get('/health', (req, res) => res.json({ status: 'ok' }));
app.get('/metrics', async (req, res) => {
  if (token && req.get('authorization') !== `Bearer ${token}`) return res.status(401).end();
  res.set('Content-Type', register.contentType).end(await register.metrics());
});
app.post('/control', (req, res) => {
  if (token && req.get('authorization') !== `Bearer ${token}` && req.ip !== '127.0.0.1' && req.ip !== '::1') {
    return res.status(401).end();
  }
  if (req.query.error_ratio !== undefined) state.errorRatio = Number(req.query.error_ratio);
  if (req.query.latency !== undefined) state.latency = req.query.latency === '' ? null : Number(req.query.latency);
  res.json(state);
});

// Each seed's HTTP instrumentation: a middleware that observes one finished request.
function promClientHttp(requests, duration, route, status, scale) {
  return (req, res, next) => {
    const start = process.hrtime.bigint();
    res.on('finish', () => {
      if (!req.path.startsWith('/api')) return;
      const labels = { method: req.method, [route]: req.route ? req.baseUrl + req.route.path : req.path,
                       [status]: String(res.statusCode) };
      requests.inc(labels);
      duration.observe(labels, Number(process.hrtime.bigint() - start) / 1e9 * scale);
    });
    next();
  };
}
const SECONDS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const MILLISECONDS = [5, 10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000];

const seeds = {
  // TradeMachine: express-prom-bundle (http_request_duration_seconds{method,path,status_code}), job queues,
  // active sessions, Prisma's metrics.
  '000': () => {
    app.use(promBundle({ includeMethod: true, includePath: true, includeStatusCode: true, autoregister: false,
                         promClient: { collectDefaultMetrics: {} } }));
    const queues = ['email', 'slack'];
    const gauges = ['jobs_active_total', 'jobs_waiting_total', 'jobs_delayed_total'].map((name) =>
      new client.Gauge({ name, help: `${name} by queue`, labelNames: ['queue_name'] }));
    const completed = new client.Counter({ name: 'jobs_completed_total', help: 'Jobs completed', labelNames: ['queue_name'] });
    const failed = new client.Counter({ name: 'jobs_failed_total', help: 'Jobs failed', labelNames: ['queue_name'] });
    const jobDuration = new client.Histogram({ name: 'job_duration_seconds', help: 'Job duration', labelNames: ['queue_name'] });
    const sessions = new client.Gauge({ name: 'trade_machine_active_sessions', help: 'Active user sessions' });
    const queries = new client.Counter({ name: 'prisma_client_queries_total', help: 'Prisma queries' });
    const queryMs = new client.Histogram({ name: 'prisma_client_queries_duration_histogram_ms', help: 'Prisma query time',
                                           buckets: [1, 5, 10, 50, 100, 500, 1000] });
    const pool = ['open', 'busy', 'idle'].map((kind) =>
      new client.Gauge({ name: `prisma_pool_connections_${kind}`, help: `Prisma pool connections ${kind}` }));
    every(1000, () => {
      for (const queue of queues) {
        gauges.forEach((g, i) => g.set({ queue_name: queue }, Math.floor(Math.random() * (i + 1) * 5)));
        completed.inc({ queue_name: queue }, 3);
        if (Math.random() < 0.1) failed.inc({ queue_name: queue });
        jobDuration.observe({ queue_name: queue }, Math.random() * 2);
      }
      sessions.set(20 + Math.floor(Math.random() * 30));
      queries.inc(5);
      queryMs.observe(Math.random() * 40);
      pool[0].set(10); pool[1].set(3 + Math.floor(Math.random() * 3)); pool[2].set(5);
    });
  },
  // EarnTrack: http_requests_total{method,status,endpoint}, http_request_duration_ms, database, cache, jobs,
  // WebSocket, errors, earnings, active users; default metrics without a prefix.
  '001': () => {
    client.collectDefaultMetrics();
    app.use(promClientHttp(
      new client.Counter({ name: 'http_requests_total', help: 'HTTP requests', labelNames: ['method', 'status', 'endpoint'] }),
      new client.Histogram({ name: 'http_request_duration_ms', help: 'HTTP request duration in ms',
                             labelNames: ['method', 'status', 'endpoint'], buckets: MILLISECONDS }),
      'endpoint', 'status', 1000));
    const query = new client.Histogram({ name: 'database_query_duration_ms', help: 'Query duration',
                                         labelNames: ['query_type', 'table'], buckets: [1, 5, 10, 25, 50, 100, 250, 500, 1000] });
    const slow = new client.Counter({ name: 'slow_queries_total', help: 'Queries over 100 ms' });
    const hits = new client.Counter({ name: 'cache_hits_total', help: 'Cache hits', labelNames: ['cache_type'] });
    const misses = new client.Counter({ name: 'cache_misses_total', help: 'Cache misses', labelNames: ['cache_type'] });
    const size = new client.Gauge({ name: 'cache_size_bytes', help: 'Cache size', labelNames: ['cache_type'] });
    const jobs = new client.Counter({ name: 'jobs_executed_total', help: 'Jobs', labelNames: ['job_type', 'status'] });
    const jobMs = new client.Histogram({ name: 'job_duration_ms', help: 'Job duration', labelNames: ['job_type'],
                                         buckets: [10, 100, 1000, 10000, 60000] });
    const sockets = new client.Gauge({ name: 'websocket_connections_total', help: 'WebSocket connections' });
    const errors = new client.Counter({ name: 'errors_total', help: 'Errors', labelNames: ['error_type', 'endpoint'] });
    const earnings = new client.Counter({ name: 'earnings_processed_total', help: 'Earnings', labelNames: ['platform'] });
    const users = new client.Gauge({ name: 'active_users', help: 'Active users' });
    every(1000, () => {
      const ms = Math.random() * 150;
      query.observe({ query_type: pick(['select', 'insert']), table: pick(['earnings', 'users']) }, ms);
      if (ms > 100) slow.inc();
      hits.inc({ cache_type: 'redis' }, 8); misses.inc({ cache_type: 'redis' }, 2);
      size.set({ cache_type: 'redis' }, 1048576 + Math.floor(Math.random() * 4096));
      jobs.inc({ job_type: 'sync', status: Math.random() < 0.05 ? 'failed' : 'completed' });
      jobMs.observe({ job_type: 'sync' }, Math.random() * 2000);
      sockets.set(10 + Math.floor(Math.random() * 5));
      if (Math.random() < 0.2) errors.inc({ error_type: 'validation', endpoint: '/api/earnings' });
      earnings.inc({ platform: pick(['uber', 'lyft']) });
      users.set(40 + Math.floor(Math.random() * 10));
    });
  },
  // ProspectFlow: default metrics with the prefix nodejs_, prom-client HTTP (route, status_code), database, queues,
  // e-mail, drafts, prospects, campaigns.
  '002': () => {
    client.collectDefaultMetrics({ prefix: 'nodejs_', gcDurationBuckets: [0.001, 0.01, 0.1, 1, 2, 5] });
    app.use(promClientHttp(
      new client.Counter({ name: 'http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status_code'] }),
      new client.Histogram({ name: 'http_request_duration_seconds', help: 'HTTP request duration',
                             labelNames: ['method', 'route', 'status_code'], buckets: SECONDS }),
      'route', 'status_code', 1));
    const db = new client.Histogram({ name: 'db_query_duration_seconds', help: 'Query duration', labelNames: ['operation', 'schema'],
                                      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2] });
    const pool = new client.Gauge({ name: 'db_connection_pool_size', help: 'Pool connections', labelNames: ['state'] });
    const messages = new client.Counter({ name: 'queue_messages_total', help: 'Queue messages', labelNames: ['queue', 'action'] });
    const processing = new client.Histogram({ name: 'queue_processing_duration_seconds', help: 'Message processing',
                                              labelNames: ['queue', 'success'], buckets: [0.1, 0.5, 1, 2, 5, 10, 30, 60] });
    const depth = new client.Gauge({ name: 'queue_depth', help: 'Messages waiting', labelNames: ['queue'] });
    const emails = new client.Counter({ name: 'emails_sent_total', help: 'E-mails sent',
                                        labelNames: ['organisation_id', 'campaign_id', 'success'] });
    const drafts = new client.Counter({ name: 'drafts_generated_total', help: 'Drafts', labelNames: ['organisation_id', 'success'] });
    const prospects = new client.Counter({ name: 'prospects_processed_total', help: 'Prospects', labelNames: ['organisation_id', 'action'] });
    const campaigns = new client.Gauge({ name: 'active_campaigns', help: 'Active campaigns', labelNames: ['organisation_id'] });
    every(1000, () => {
      db.observe({ operation: pick(['select', 'update']), schema: 'public' }, Math.random() * 0.05);
      pool.set({ state: 'active' }, 4 + Math.floor(Math.random() * 3)); pool.set({ state: 'idle' }, 6);
      messages.inc({ queue: 'drafts', action: 'published' }, 3); messages.inc({ queue: 'drafts', action: 'consumed' }, 3);
      processing.observe({ queue: 'drafts', success: 'true' }, Math.random() * 3);
      depth.set({ queue: 'drafts' }, Math.floor(Math.random() * 20));
      emails.inc({ organisation_id: 'org1', campaign_id: 'c1', success: Math.random() < 0.95 ? 'true' : 'false' });
      drafts.inc({ organisation_id: 'org1', success: 'true' });
      prospects.inc({ organisation_id: 'org1', action: pick(['imported', 'validated', 'researched']) });
      campaigns.set({ organisation_id: 'org1' }, 3);
    });
  },
  // Production Experience Showcase: prom-client's defaults (http_request_duration_seconds, http_requests_total).
  '003': () => {
    client.collectDefaultMetrics();
    app.use(promClientHttp(
      new client.Counter({ name: 'http_requests_total', help: 'HTTP requests', labelNames: ['method', 'route', 'status_code'] }),
      new client.Histogram({ name: 'http_request_duration_seconds', help: 'HTTP request duration',
                             labelNames: ['method', 'route', 'status_code'], buckets: SECONDS }),
      'route', 'status_code', 1));
  },
  // NexusTradeAI: the seed names signals, not metrics; prom-client's conventions: websocket_connections (gauge),
  // websocket_messages_total{direction}, cache_hits_total/cache_misses_total{cache}, data_provider_request_duration_seconds
  // and data_provider_errors_total {provider}, circuit_breaker_state{breaker} (0 closed, 1 half-open, 2 open) and
  // circuit_breaker_state_changes_total{breaker,to}.
  '004': () => {
    seeds['003']();
    const sockets = new client.Gauge({ name: 'websocket_connections', help: 'Open WebSocket connections' });
    const messages = new client.Counter({ name: 'websocket_messages_total', help: 'WebSocket messages', labelNames: ['direction'] });
    const hits = new client.Counter({ name: 'cache_hits_total', help: 'Redis cache hits', labelNames: ['cache'] });
    const misses = new client.Counter({ name: 'cache_misses_total', help: 'Redis cache misses', labelNames: ['cache'] });
    const provider = new client.Histogram({ name: 'data_provider_request_duration_seconds', help: 'Data provider latency',
                                            labelNames: ['provider'], buckets: SECONDS });
    const providerErrors = new client.Counter({ name: 'data_provider_errors_total', help: 'Data provider errors', labelNames: ['provider'] });
    const breaker = new client.Gauge({ name: 'circuit_breaker_state', help: '0 closed, 1 half-open, 2 open', labelNames: ['breaker'] });
    const changes = new client.Counter({ name: 'circuit_breaker_state_changes_total', help: 'Breaker changes', labelNames: ['breaker', 'to'] });
    changes.inc({ breaker: 'polygon', to: 'open' }, 0);  // exposed from the start, as prom-client users initialise
    every(1000, () => {
      sockets.set(100 + Math.floor(Math.random() * 20));
      messages.inc({ direction: 'in' }, 30); messages.inc({ direction: 'out' }, 50);
      hits.inc({ cache: 'quotes' }, 9); misses.inc({ cache: 'quotes' }, 1);
      for (const name of ['alpaca', 'polygon']) {
        provider.observe({ provider: name }, Math.random() * 0.3);
        if (Math.random() < 0.01) providerErrors.inc({ provider: name });
      }
      breaker.set({ breaker: 'polygon' }, 0);
      if (Math.random() < 0.02) changes.inc({ breaker: 'polygon', to: 'open' });
    });
  },
  // An application whose names the stack does not know (AppMetricsUnrecognised).
  none: () => {
    const served = new client.Counter({ name: 'requests_served', help: 'Requests served' });
    app.use((req, res, next) => { if (req.path.startsWith('/api')) served.inc(); next(); });
  },
};
seeds[seed]();

// The routes every seed serves: the error share and latency come from /control.
const ROUTES = [['get', '/api/users'], ['post', '/api/orders'], ['get', '/api/reports/:id']];
for (const [method, path] of ROUTES) {
  app[method](path, (req, res) => {
    const wait = state.latency === null ? 5 + Math.random() * 195 : state.latency * 1000;
    setTimeout(() => {
      if (Math.random() < state.errorRatio) return res.status(500).json({ error: 'simulated' });
      if (Math.random() < 0.02) return res.status(404).json({ error: 'not found' });
      res.json({ ok: true });
    }, wait);
  });
}

const server = tls ? https.createServer(tls, app) : http.createServer(app);
server.listen(port, () => {
  const agent = tls ? new https.Agent({ rejectUnauthorized: false, keepAlive: true }) : new http.Agent({ keepAlive: true });
  const lib = tls ? https : http;
  every(100, () => {
    const [method, path] = pick(ROUTES);
    const request = lib.request({ host: '127.0.0.1', port, method: method.toUpperCase(), agent,
                                  path: path.replace(':id', String(1 + Math.floor(Math.random() * 9))) },
                                (res) => res.resume());
    request.on('error', () => {});
    request.end();
  });
});
