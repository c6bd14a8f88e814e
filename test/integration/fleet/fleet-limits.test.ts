// Three real gateway processes sharing one Redis (127.0.0.1:6379, a unique key prefix): the
// per-instance and API budgets hold across the fleet, refusals say when to retry, admins see
// and end sessions on any replica, and a replica that dies leaves no ghost sessions.

import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../gateway/audit/audit-events.js';
import type { SimInstance } from '../../../simulator/index.js';
import { eventually, within } from '../../helpers/gateway-harness.js';
import { openSession, spawnGateway, startFleetWorld, type Attempt, type FleetWorld, type GatewayProcess } from './gateway-fleet.js';

const HOT = 'lhins-hot00001';
const BURST = Array.from({ length: 60 }, (_, i) => `lhins-burst${String(i).padStart(3, '0')}`);
const ADMIN_A = 'lhins-admin0a1';
const ADMIN_B = 'lhins-admin0b1';
const DOOMED = 'lhins-doomed01';
const SESSION_TTL_S = 3;

const instances: SimInstance[] = [HOT, ...BURST, ADMIN_A, ADMIN_B, DOOMED].map((id) => ({ id, state: 'RUNNING', vnc: { kind: 'echo' } }));

describe('three gateway processes sharing one Redis', () => {
  let world: FleetWorld;
  let gateways: GatewayProcess[] = [];
  const prefix = `test:fleet:${randomUUID()}:`;

  beforeAll(async () => {
    world = await startFleetWorld(instances);
    const env = {
      ...world.baseEnv,
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: prefix,
      SESSION_TTL_S: String(SESSION_TTL_S),
      // The user limits are tested in the contract suite; here one user stands for many.
      USER_SESSIONS_PER_MINUTE: '1000',
      USER_MAX_SESSIONS: '1000',
    };
    gateways = await Promise.all([spawnGateway(env), spawnGateway(env), spawnGateway(env)]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all(gateways.map((g) => g.stop()));
    await world?.close();
  });

  const audit = (): AuditRecord[] => gateways.flatMap((g) => g.audit());
  /**
   * Every DescribeInstanceVncUrl call the simulator received since `since` (an index into its
   * log), whatever it answered: one it refused for its own rate limit is logged before the
   * instance id is read, so filtering by instance would hide exactly the calls that matter.
   */
  const vncCallsSince = (since: number) => world.simulator.calls.slice(since).filter((c) => c.action === 'DescribeInstanceVncUrl');

  async function settle(attempt: Attempt): Promise<{ kind: string; code?: number; reason?: string }> {
    const outcome = await within(attempt.outcome, 15_000, 'a session attempt to settle');
    if (outcome.kind === 'open') {
      attempt.ws.close(1000);
      await within(attempt.closed, 5000, 'the session to close');
    }
    return outcome;
  }

  it('lets exactly 30 of 40 attempts on one instance within a minute reach Tencent, and tells the rest when to retry', async () => {
    const token = await world.token('sam');
    const since = world.simulator.calls.length;
    const firstAt = Date.now();
    const outcomes: { kind: string; code?: number; reason?: string; sentAt: number; at: number }[] = [];
    for (let i = 0; i < 40; i++) {
      // Paced below the API budget so only the per-instance budget decides.
      const sentAt = Date.now();
      const outcome = await settle(openSession(gateways[i % 3] as GatewayProcess, HOT, token));
      outcomes.push({ ...outcome, sentAt, at: Date.now() });
      await new Promise((resolve) => setTimeout(resolve, 120));
    }
    expect(Date.now() - firstAt).toBeLessThan(60_000);
    const reached = vncCallsSince(since);
    expect(reached.map((c) => `${c.instanceId} ${c.code}`)).toEqual(Array.from({ length: 30 }, () => `${HOT} ok`));
    // The first 30 ran; the other 10 were refused.
    expect(outcomes.map((o) => (o.kind === 'open' ? 'open' : `${o.kind} ${o.code}`))).toEqual([...Array.from({ length: 30 }, () => 'open'), ...Array.from({ length: 10 }, () => 'closed 4429')]);
    const refused = outcomes.slice(30);
    // The window holds the 30 counted attempts; the next slot frees when the oldest, the first,
    // leaves it 60 s after it was counted (by Redis, on this host's clock): after the first
    // attempt was sent and before the simulator answered it. Each refusal was decided between
    // its own send and its close.
    const oldestFrom = (outcomes[0] as { sentAt: number }).sentAt;
    const oldestBy = (reached[0] as { atMs: number }).atMs;
    const retryAfters: number[] = [];
    for (const refusal of refused) {
      const reason = JSON.parse(refusal.reason ?? '{}') as { code: string; retryAfter: number };
      expect(reason.code).toBe('rate_limited');
      expect(reason.retryAfter).toBeGreaterThanOrEqual(Math.ceil((oldestFrom + 60_000 - refusal.at) / 1000));
      expect(reason.retryAfter).toBeLessThanOrEqual(Math.ceil((oldestBy + 60_000 - refusal.sentAt) / 1000));
      retryAfters.push(reason.retryAfter);
    }
    await eventually(() => audit().filter((r) => r.type === 'ratelimit.exceeded' && r.instanceId === HOT).length >= refused.length, 5000, 'ratelimit.exceeded records');
    const records = audit().filter((r) => r.type === 'ratelimit.exceeded' && r.instanceId === HOT);
    expect(records.map((r) => r.type === 'ratelimit.exceeded' && r.scope)).toEqual(refused.map(() => 'instance'));
    const sorted = (values: number[]): number[] => [...values].sort((a, b) => a - b);
    expect(sorted(records.map((r) => (r.type === 'ratelimit.exceeded' ? r.retryAfter : 0)))).toEqual(sorted(retryAfters));
  }, 90_000);

  it('never gives Tencent more than 10 calls in any second during a burst of 60 sessions on 60 instances', async () => {
    const token = await world.token('sam');
    const since = world.simulator.calls.length;
    const attempts = BURST.map((id, i) => openSession(gateways[i % 3] as GatewayProcess, id, token));
    const outcomes = await Promise.all(attempts.map(settle));
    const calls = vncCallsSince(since);
    expect(calls.filter((c) => c.code.startsWith('RequestLimitExceeded'))).toEqual([]);
    const times = calls.map((c) => c.atMs).sort((a, b) => a - b);
    const busiest = Math.max(...times.map((t) => times.filter((u) => u >= t && u < t + 1000).length));
    expect(busiest).toBeLessThanOrEqual(10);
    // Every session either ran (one call, answered) or was told when to retry (no call).
    const opened = outcomes.filter((o) => o.kind === 'open');
    const refused = outcomes.filter((o) => o.kind === 'closed' && o.code === 4429);
    expect(opened.length).toBeGreaterThan(0);
    expect(opened.length + refused.length).toBe(60);
    expect(calls.map((c) => c.code)).toEqual(opened.map(() => 'ok'));
    for (const refusal of refused) expect(JSON.parse(refusal.reason ?? '{}')).toMatchObject({ code: 'rate_limited', retryAfter: expect.any(Number) });
    const apiRefusals = audit().filter((r) => r.type === 'ratelimit.exceeded' && r.scope === 'api');
    expect(apiRefusals.length).toBe(refused.length);
  }, 90_000);

  async function listSessions(gateway: GatewayProcess, token: string): Promise<{ status: number; body: { sessions?: Array<Record<string, unknown>> } }> {
    const res = await fetch(`${gateway.url}/api/v1/sessions`, { headers: { Authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as { sessions?: Array<Record<string, unknown>> } };
  }

  async function liveSession(gateway: GatewayProcess, instanceId: string, sub: string): Promise<Attempt> {
    const attempt = openSession(gateway, instanceId, await world.token(sub));
    expect((await within(attempt.outcome, 10_000, 'the session to open')).kind).toBe('open');
    return attempt;
  }

  it('lists every replica’s sessions for an admin and ends one on another replica with 4410', async () => {
    const admin = await world.token('root', ['admins']);
    const a = await liveSession(gateways[0] as GatewayProcess, ADMIN_A, 'alice');
    const b = await liveSession(gateways[1] as GatewayProcess, ADMIN_B, 'bob');
    b.ws.send(Buffer.alloc(1000));

    expect((await listSessions(gateways[2] as GatewayProcess, await world.token('sam'))).status).toBe(403);
    let listed: Array<Record<string, unknown>> = [];
    await within((async () => {
      // Each replica reports its sessions' state and bytes with its next heartbeat.
      const reported = (): boolean =>
        listed.some((s) => s.instanceId === ADMIN_B && (s.bytesFromClient as number) >= 1005) && listed.some((s) => s.instanceId === ADMIN_A && s.state === 'live');
      while (!reported()) {
        const res = await listSessions(gateways[2] as GatewayProcess, admin);
        expect(res.status).toBe(200);
        listed = res.body.sessions ?? [];
        await new Promise((resolve) => setTimeout(resolve, 200));
      }
    })(), 10_000, 'the list');
    const sa = listed.find((s) => s.instanceId === ADMIN_A);
    const sb = listed.find((s) => s.instanceId === ADMIN_B);
    expect(sa).toMatchObject({ user: { sub: 'alice', email: 'alice@example.com' }, state: 'live', clientIp: expect.any(String) });
    expect(sb).toMatchObject({ user: { sub: 'bob', email: 'bob@example.com' }, state: 'live' });
    expect(sa?.replicaId).not.toBe(sb?.replicaId);
    expect(Date.parse(String(sb?.startedAt))).toBeGreaterThan(Date.now() - 60_000);

    // Ended through replica 0; it runs on replica 1.
    const res = await fetch(`${gateways[0]?.url}/api/v1/sessions/${String(sb?.sessionId)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(202);
    const closed = await within(b.closed, 5000, 'bob’s session to be ended');
    expect(closed.code).toBe(4410);
    expect(JSON.parse(closed.reason)).toMatchObject({ code: 'session_terminated' });
    await eventually(() => gateways[1]?.audit().some((r) => r.type === 'session.ended' && r.sessionId === sb?.sessionId) ?? false, 5000, 'session.ended');
    const records = gateways[1]?.audit().filter((r) => r.sessionId === sb?.sessionId) ?? [];
    expect(records.find((r) => r.type === 'session.terminated')).toMatchObject({ terminatedBy: { sub: 'root', email: 'root@example.com' }, actor: { sub: 'bob' } });
    expect(records.find((r) => r.type === 'session.ended')).toMatchObject({ closedBy: 'admin', closeCode: 4410 });
    const after = await listSessions(gateways[2] as GatewayProcess, admin);
    expect(after.body.sessions?.some((s) => s.sessionId === sb?.sessionId)).toBe(false);
    expect((await fetch(`${gateways[0]?.url}/api/v1/sessions/${String(sb?.sessionId)}`, { method: 'DELETE', headers: { Authorization: `Bearer ${admin}` } })).status).toBe(404);

    // alice's session on replica 0 was not touched.
    a.ws.send(Buffer.from('still here'));
    await eventually(() => Buffer.concat(a.received).toString().includes('still here'), 5000, 'alice’s echo');
    a.ws.close();
  }, 60_000);

  it('drops a killed replica’s sessions from the list once their heartbeat TTL has passed', async () => {
    const admin = await world.token('root', ['admins']);
    const doomed = gateways[2] as GatewayProcess;
    await liveSession(doomed, DOOMED, 'dave');
    const before = await listSessions(gateways[0] as GatewayProcess, admin);
    expect(before.body.sessions?.some((s) => s.instanceId === DOOMED)).toBe(true);
    doomed.kill();
    let present = true;
    await within((async () => {
      while (present) {
        await new Promise((resolve) => setTimeout(resolve, 250));
        present = (await listSessions(gateways[0] as GatewayProcess, admin)).body.sessions?.some((s) => s.instanceId === DOOMED) ?? true;
      }
    })(), (SESSION_TTL_S + 5) * 1000, 'the dead replica’s session to vanish');
    expect(present).toBe(false);
  }, 30_000);
});
