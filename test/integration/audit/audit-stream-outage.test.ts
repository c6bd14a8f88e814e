// The Redis stream sink when its Redis goes away (a throwaway redis-server, never the shared
// one): new sessions are refused with 4503 and /readyz fails under AUDIT_ON_FAILURE=refuse;
// with continue they are admitted, and the log says so. Limits fall back to the replica
// (LIMITS_ON_REDIS_FAILURE=local) so the refusal is the audit trail's alone. When the backlog
// the sink keeps in memory is full, it reports itself unhealthy and counts every record it
// has to drop (vnc_gateway_audit_records_dropped_total) instead of dropping them silently.

import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../gateway/audit/audit-events.js';
import { createAuditLog } from '../../../gateway/audit/audit-log.js';
import { createRedisStreamSink } from '../../../gateway/audit/audit-redis-sink.js';
import { verifyStream } from '../../../gateway/audit/audit-verify.js';
import { createGatewayMetrics } from '../../../gateway/metrics.js';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';
import { createThrowawayRedis, type ThrowawayRedis } from '../state/throwaway-redis.js';

const INSTANCES = [{ id: 'lhins-strm0002', state: 'RUNNING' as const, vnc: { kind: 'echo' as const } }];

async function readyz(h: Harness): Promise<{ status: number; checks: Record<string, boolean> }> {
  const res = await fetch(`${h.gateway.url}/readyz`);
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, boolean> }).checks };
}

function record(n: number): AuditRecord {
  return { id: `rec-${n}`, ts: new Date(1_700_000_000_000 + n).toISOString(), type: 'auth.failed', actor: null, clientIp: '192.0.2.9', gatewayRequestId: `g-${n}`, code: 'auth_invalid', source: 'bearer' };
}

describe('the audit stream when its Redis is down', () => {
  let redis: ThrowawayRedis;
  let h: Harness | undefined;
  beforeAll(async () => {
    redis = await createThrowawayRedis();
  });
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });
  afterAll(() => {
    redis?.kill();
  });

  async function gatewayWithStreamDown(onFailure: 'refuse' | 'continue'): Promise<Harness> {
    await redis.start();
    const gateway = await startHarness({
      store: 'memory',
      env: {
        REDIS_URL: `redis://127.0.0.1:${redis.port}`,
        REDIS_KEY_PREFIX: 'outage:',
        AUDIT_REDIS_STREAM: `{outage-${onFailure}}:audit`,
        AUDIT_ON_FAILURE: onFailure,
        LIMITS_ON_REDIS_FAILURE: 'local',
      },
      instances: INSTANCES,
    });
    h = gateway;
    await eventually(() => gateway.gateway.audit.sinkHealth().redisStream === true, 5000, 'stream sink up');
    await redis.shutdown();
    await eventually(() => gateway.gateway.audit.sinkHealth().redisStream === false, 5000, 'stream sink to report the outage');
    return gateway;
  }

  it('refuses new sessions with 4503 and fails readiness with AUDIT_ON_FAILURE=refuse', async () => {
    const gateway = await gatewayWithStreamDown('refuse');
    const ready = await readyz(gateway);
    expect(ready.status).toBe(503);
    expect(ready.checks['audit.redisStream']).toBe(false);
    const s = gateway.open('lhins-strm0002', { headers: { Authorization: `Bearer ${await gateway.token()}` } });
    const outcome = await within(s.closed, 5000, 'close');
    expect(outcome.code).toBe(4503);
    expect(JSON.parse(outcome.reason)).toMatchObject({ code: 'audit_unavailable' });
    expect(gateway.audit().filter((r) => r.type === 'session.started')).toHaveLength(0);
  });

  it('admits new sessions with AUDIT_ON_FAILURE=continue, and logs each admission', async () => {
    const gateway = await gatewayWithStreamDown('continue');
    expect((await readyz(gateway)).checks['audit.redisStream']).toBeUndefined();
    const s = gateway.open('lhins-strm0002', { headers: { Authorization: `Bearer ${await gateway.token()}` } });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from([7, 7]));
    await eventually(() => s.received.length > 0, 5000, 'echo');
    s.ws.close(1000);
    await within(s.closed, 5000, 'close');
    expect(gateway.logLines.some((l) => l.includes('admitting anyway because AUDIT_ON_FAILURE=continue') && l.includes('redisStream'))).toBe(true);
    await eventually(() => gateway.audit().some((r) => r.type === 'session.ended'), 5000, 'session.ended on stdout');
  });

  it('reports a full backlog unhealthy and counts the records it drops', async () => {
    await redis.start();
    // No command timeout: a frozen Redis keeps the connection "ready" while nothing is written,
    // so only the backlog tells that records are piling up.
    const client = new Redis({ port: redis.port, host: '127.0.0.1', maxRetriesPerRequest: null });
    const key = '{backlog}:audit';
    const logged: string[] = [];
    try {
      await client.ping();
      const sink = createRedisStreamSink({ redis: client, key, maxLen: 0, maxAgeMs: 0, maxPendingRecords: 3, log: (_level, _detail, message) => void logged.push(message) });
      const log = createAuditLog({ sinks: [sink] });
      const metrics = createGatewayMetrics({ defaultMetrics: false });
      const audit = metrics.observeAudit(log);
      redis.freeze();
      for (let n = 0; n < 5; n++) audit.record(record(n));
      expect(client.status).toBe('ready');
      expect(sink.healthy()).toBe(false);
      expect(() => audit.ensureWritable()).toThrow(expect.objectContaining({ code: 'audit_unavailable' }));
      expect(audit.droppedRecords()).toEqual({ redisStream: 2 });
      expect(await metrics.render()).toContain('vnc_gateway_audit_records_dropped_total{sink="redisStream"} 2');
      expect(logged.filter((m) => m.includes('dropped'))).toHaveLength(1);
      redis.thaw();
      await within(sink.flush(), 5000, 'flush after thaw');
      expect(sink.healthy()).toBe(true);
      expect(await verifyStream(client, key)).toMatchObject({ ok: true, records: 3 });
      // The counter keeps the drops after recovery; a scrape adds nothing twice.
      expect(await metrics.render()).toContain('vnc_gateway_audit_records_dropped_total{sink="redisStream"} 2');
    } finally {
      redis.thaw();
      client.disconnect();
      await redis.shutdown();
    }
  });
});
