// Prometheus metrics (prom-client) for GET /metrics. Kept out of the hot path: nothing here
// runs per frame. Counts are driven by the audit records the gateway already writes (every
// refusal, start and end), by a wrapper around the Tencent client, and by gauges read at
// scrape time (live sessions, readiness, Redis). Label values come from bounded sets so a
// client cannot grow the series count (no user, instance or free-form text ever becomes a label).

import { readFileSync } from 'node:fs';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client';
import type { AuditRecord, RateLimitExceeded } from './audit/audit-events.js';
import type { AuditLog } from './audit/audit-log.js';
import { ERROR_CATALOGUE, isGatewayError } from './errors.js';
import { TENCENT_ERROR_CODES } from './tencent/error-codes.js';
import type { TencentClient } from './tencent/client.js';

/** A readiness check as app.ts runs it; exported per check as a gauge. */
export interface MetricsReadinessCheck {
  name: string;
  check: () => Promise<boolean> | boolean;
}

export interface GatewayMetricsOptions {
  /** Live relay sessions on this replica, read at scrape time. */
  liveSessions?: () => number;
  /** The readiness checks behind /readyz, evaluated at scrape time. */
  readiness?: readonly MetricsReadinessCheck[];
  /** Whether the draining flag is set (it makes /readyz fail). */
  isDraining?: () => boolean;
  /** Redis connection health; omit when no Redis is configured (the gauge then has no sample). */
  redisUp?: () => boolean;
  /** Node process metrics (CPU, memory, event loop lag). Default true. */
  defaultMetrics?: boolean;
  /** Seconds since an arbitrary origin, for the Tencent latency histogram. */
  now?: () => number;
  version?: string;
}

export interface GatewayMetrics {
  readonly registry: Registry;
  /** `Content-Type` of {@link render}'s output. */
  readonly contentType: string;
  /** The exposition text for GET /metrics. */
  render(): Promise<string>;
  /** Updates the counters from one audit record. */
  observe(record: AuditRecord): void;
  /** An AuditLog that records through `inner` and then counts the record; its sinks' health becomes a gauge. */
  observeAudit(inner: AuditLog): AuditLog;
  /** A TencentClient that times every call and counts its result code. */
  instrumentTencent(inner: TencentClient): TencentClient;
}

export const METRIC_PREFIX = 'vnc_gateway_';

// Close codes the gateway documents; anything else a client picks (4000-4999) is "other".
const KNOWN_CLOSE_CODES = new Set([1000, 1001, 1002, 1003, 1005, 1006, 1007, 1008, 1009, 1011, 4401, 4403, 4404, 4408, 4409, 4410, 4429, 4502, 4503, 4504]);
// Codes the client adds to Tencent's documented list (transport failures, our own checks).
const SYNTHETIC_TENCENT_CODES = new Set(['Timeout', 'NetworkError', 'MalformedVncUrl', 'HostNotAllowed', 'UnknownError']);
const KNOWN_GATEWAY_CODES = new Set([...Object.keys(ERROR_CATALOGUE), 'client_left']);
const TOKEN = /^[a-z][a-z0-9_.]{0,39}$/;
// Every scope a ratelimit.exceeded record can name, listed so the compiler flags a new one
// (the concurrent-session scopes carry a '-', which TOKEN does not allow).
const LIMIT_SCOPES: Readonly<Record<RateLimitExceeded['scope'], true>> = {
  instance: true,
  api: true,
  user: true,
  'user-sessions': true,
  'instance-sessions': true,
  auth: true,
};
const ACTION = /^[A-Z][A-Za-z0-9]{1,63}$/;

const closeCodeLabel = (code: number): string => (KNOWN_CLOSE_CODES.has(code) ? String(code) : 'other');
const gatewayCodeLabel = (code: string): string => (KNOWN_GATEWAY_CODES.has(code) ? code : 'other');
const tokenLabel = (value: string | undefined): string => (value !== undefined && TOKEN.test(value) ? value : 'other');
const scopeLabel = (scope: string): string => (Object.hasOwn(LIMIT_SCOPES, scope) ? scope : 'other');

function tencentCodeLabel(code: string | undefined): string {
  if (code === undefined) return 'other';
  if (code in TENCENT_ERROR_CODES || SYNTHETIC_TENCENT_CODES.has(code) || /^HTTP\d{3}$/.test(code)) return code;
  return 'other';
}

/** Builds the registry and every metric; one per gateway, so tests can run several side by side. */
export function createGatewayMetrics(options: GatewayMetricsOptions = {}): GatewayMetrics {
  const registry = new Registry();
  const registers = [registry];
  const now = options.now ?? (() => performance.now() / 1000);
  if (options.defaultMetrics ?? true) collectDefaultMetrics({ register: registry });

  new Gauge({
    name: `${METRIC_PREFIX}build_info`,
    help: 'Always 1; labels carry the gateway and Node.js versions.',
    labelNames: ['version', 'node'],
    registers,
    collect() {
      this.set({ version: options.version ?? packageVersion(), node: process.versions.node }, 1);
    },
  });
  new Gauge({
    name: `${METRIC_PREFIX}sessions_live`,
    help: 'Relay sessions open on this replica.',
    registers,
    collect() {
      this.set(options.liveSessions?.() ?? 0);
    },
  });
  const readiness = options.readiness ?? [];
  new Gauge({
    name: `${METRIC_PREFIX}readiness_check`,
    help: 'Result of each /readyz check at scrape time (1 passing, 0 failing).',
    labelNames: ['check'],
    registers,
    async collect() {
      this.set({ check: 'notDraining' }, options.isDraining?.() ? 0 : 1);
      for (const { name, check } of readiness) {
        let ok = false;
        try {
          ok = await check();
        } catch {
          ok = false;
        }
        this.set({ check: name }, ok ? 1 : 0);
      }
    },
  });
  const redisUp = options.redisUp;
  new Gauge({
    name: `${METRIC_PREFIX}redis_up`,
    help: 'Whether the Redis connection is ready (no sample when REDIS_URL is unset).',
    registers,
    collect() {
      if (redisUp) this.set(redisUp() ? 1 : 0);
    },
  });
  let auditLog: AuditLog | undefined;
  new Gauge({
    name: `${METRIC_PREFIX}audit_sink_up`,
    help: 'Whether each audit sink can write (stdout, file, redisStream), at scrape time.',
    labelNames: ['sink'],
    registers,
    collect() {
      for (const [sink, healthy] of Object.entries(auditLog?.sinkHealth() ?? {})) this.set({ sink }, healthy ? 1 : 0);
    },
  });

  // Read from the sinks at scrape time; each scrape adds what was dropped since the last.
  const droppedSeen = new Map<string, number>();
  new Counter({
    name: `${METRIC_PREFIX}audit_records_dropped_total`,
    help: 'Audit records a sink had to drop because its backlog was full (a hole in that trail), by sink.',
    labelNames: ['sink'],
    registers,
    collect() {
      for (const [sink, total] of Object.entries(auditLog?.droppedRecords() ?? {})) {
        const seen = droppedSeen.get(sink);
        if (seen === undefined) this.inc({ sink }, 0);
        if (total > (seen ?? 0)) this.inc({ sink }, total - (seen ?? 0));
        droppedSeen.set(sink, total);
      }
    },
  });

  const ticketsIssued = new Counter({ name: `${METRIC_PREFIX}tickets_issued_total`, help: 'Single-use tickets handed out.', registers });
  const sessionsStarted = new Counter({ name: `${METRIC_PREFIX}sessions_started_total`, help: 'Relay sessions started.', registers });
  const sessionsEnded = new Counter({
    name: `${METRIC_PREFIX}sessions_ended_total`,
    help: 'Relay sessions ended, by close code, who closed and the relay reason.',
    labelNames: ['close_code', 'closed_by', 'reason'],
    registers,
  });
  const refusals = new Counter({
    name: `${METRIC_PREFIX}session_refusals_total`,
    help: 'Refused ticket requests and session opens, by gateway error code and stage (ticket, upgrade, upstream).',
    labelNames: ['code', 'stage'],
    registers,
  });
  const bytesRelayed = new Counter({
    name: `${METRIC_PREFIX}relayed_bytes_total`,
    help: 'Payload bytes relayed by ended sessions, by direction (from_client, from_upstream).',
    labelNames: ['direction'],
    registers,
  });
  const setupSeconds = new Histogram({
    name: `${METRIC_PREFIX}session_setup_seconds`,
    help: 'Time from the WebSocket upgrade request to the relay start (auth, limits, Tencent API, upstream handshake).',
    buckets: [0.05, 0.1, 0.25, 0.5, 1, 2, 3, 5, 8, 12, 15],
    registers,
  });
  const durationSeconds = new Histogram({
    name: `${METRIC_PREFIX}session_duration_seconds`,
    help: 'Length of ended relay sessions.',
    buckets: [1, 10, 60, 300, 900, 1800, 3600, 7200, 14400, 28800],
    registers,
  });
  const limitRefusals = new Counter({
    name: `${METRIC_PREFIX}limit_refusals_total`,
    help: 'Budget refusals (4429 / HTTP 429), by scope (instance, api, user, user-sessions, instance-sessions, auth).',
    labelNames: ['scope'],
    registers,
  });
  const authFailures = new Counter({
    name: `${METRIC_PREFIX}auth_failures_total`,
    help: 'Missing or invalid credentials, by gateway code and where the credential came from.',
    labelNames: ['code', 'source'],
    registers,
  });
  const tencentRequests = new Counter({
    name: `${METRIC_PREFIX}tencent_api_requests_total`,
    help: 'Tencent Cloud API calls, by product, action and result (ok, or the Tencent error code).',
    labelNames: ['product', 'action', 'result'],
    registers,
  });
  const tencentSeconds = new Histogram({
    name: `${METRIC_PREFIX}tencent_api_duration_seconds`,
    help: 'Latency of Tencent Cloud API calls, by product and action.',
    labelNames: ['product', 'action'],
    buckets: [0.025, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10],
    registers,
  });

  function observe(record: AuditRecord): void {
    switch (record.type) {
      case 'ticket.issued':
        ticketsIssued.inc();
        break;
      case 'session.started':
        sessionsStarted.inc();
        if (typeof record.setupMs === 'number' && record.setupMs >= 0) setupSeconds.observe(record.setupMs / 1000);
        break;
      case 'session.ended':
        sessionsEnded.inc({ close_code: closeCodeLabel(record.closeCode), closed_by: tokenLabel(record.closedBy), reason: tokenLabel(record.reason) });
        bytesRelayed.inc({ direction: 'from_client' }, record.bytesFromClient);
        bytesRelayed.inc({ direction: 'from_upstream' }, record.bytesFromUpstream);
        durationSeconds.observe(record.durationMs / 1000);
        break;
      case 'session.denied':
        refusals.inc({ code: gatewayCodeLabel(record.code), stage: tokenLabel(record.stage) });
        break;
      case 'ratelimit.exceeded':
        limitRefusals.inc({ scope: scopeLabel(record.scope) });
        break;
      case 'auth.failed':
        authFailures.inc({ code: gatewayCodeLabel(record.code), source: tokenLabel(record.source) });
        break;
      default:
        break;
    }
  }

  return {
    registry,
    contentType: registry.contentType,
    render: () => registry.metrics(),
    observe,
    observeAudit(inner) {
      auditLog = inner;
      return {
        ...inner,
        record(input) {
          const record = inner.record(input);
          observe(record);
          return record;
        },
      };
    },
    instrumentTencent(inner) {
      return {
        async call(call) {
          const labels = { product: call.product, action: ACTION.test(call.action) ? call.action : 'other' };
          const started = now();
          try {
            const result = await inner.call(call);
            tencentRequests.inc({ ...labels, result: 'ok' });
            return result;
          } catch (error) {
            tencentRequests.inc({ ...labels, result: tencentCodeLabel(isGatewayError(error) ? error.upstreamCode : undefined) });
            throw error;
          } finally {
            tencentSeconds.observe(labels, Math.max(0, now() - started));
          }
        },
      };
    },
  };
}

let cachedVersion: string | undefined;

/** The gateway's version from package.json (next to the sources, or two levels up from dist/). */
function packageVersion(): string {
  if (cachedVersion !== undefined) return cachedVersion;
  cachedVersion = 'unknown';
  for (const candidate of ['../package.json', '../../package.json']) {
    try {
      const parsed = JSON.parse(readFileSync(new URL(candidate, import.meta.url), 'utf8')) as { name?: unknown; version?: unknown };
      if (parsed.name === 'vnc-gateway' && typeof parsed.version === 'string') {
        cachedVersion = parsed.version;
        break;
      }
    } catch {
      // not at this level
    }
  }
  return cachedVersion;
}
