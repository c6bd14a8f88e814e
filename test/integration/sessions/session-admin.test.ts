// The session list API and the concurrency limits on one in-process gateway with memory state
// (the fleet-wide behaviour over Redis is in test/integration/fleet/).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

const POLICY = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - groups: [support]
    instances: ["lhins-excl*"]
    role: operator
    maxConcurrentSessions: 1
  - groups: [admins]
    instances: ["*"]
    role: admin
`;

describe('the session list and concurrency limits with memory state', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      policyYaml: POLICY,
      env: { USER_MAX_SESSIONS: '2' },
      instances: ['lhins-list0001', 'lhins-list0002', 'lhins-list0003', 'lhins-excl0001'].map((id) => ({ id, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } })),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function open(instanceId: string, sub: string, groups = ['sre']) {
    const token = await h.token(sub, { groups });
    const s = h.open(instanceId, { headers: { Authorization: `Bearer ${token}` } });
    await within(s.opened, 5000, 'open');
    return s;
  }
  async function echoed(s: ReturnType<Harness['open']>): Promise<void> {
    s.ws.send(Buffer.from('x'));
    await eventually(() => s.received.length > 0, 5000, 'echo');
  }
  const api = async (method: string, path: string, token: string) => {
    const res = await fetch(`${h.gateway.url}${path}`, { method, headers: { Authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as Record<string, unknown> };
  };

  it('lists live sessions for admins only, and ends one with 4410 and a session.terminated record', async () => {
    const s = await open('lhins-list0001', 'erin');
    await echoed(s);
    const admin = await h.token('root', { groups: ['admins'] });
    expect((await api('GET', '/api/v1/sessions', await h.token('sam'))).status).toBe(403);
    expect((await fetch(`${h.gateway.url}/api/v1/sessions`)).status).toBe(401);
    const listed = await api('GET', '/api/v1/sessions', admin);
    expect(listed.status).toBe(200);
    const sessions = listed.body.sessions as Array<Record<string, unknown>>;
    const mine = sessions.find((x) => x.instanceId === 'lhins-list0001');
    expect(mine).toMatchObject({ user: { sub: 'erin', email: 'erin@example.com' }, state: 'live', bytesFromClient: 1, bytesFromUpstream: 1, replicaId: h.gateway.fleet.replicaId });

    const ended = await api('DELETE', `/api/v1/sessions/${String(mine?.sessionId)}`, admin);
    expect(ended).toMatchObject({ status: 202, body: { status: 'terminated' } });
    const closed = await within(s.closed, 5000, 'close');
    expect(closed.code).toBe(4410);
    await eventually(() => h.audit().some((r) => r.type === 'session.ended' && r.sessionId === mine?.sessionId), 5000, 'session.ended');
    const records = h.audit().filter((r) => r.sessionId === mine?.sessionId);
    expect(records.find((r) => r.type === 'session.terminated')).toMatchObject({ terminatedBy: { sub: 'root' } });
    expect(records.find((r) => r.type === 'session.ended')).toMatchObject({ closedBy: 'admin', closeCode: 4410 });
    expect((await api('DELETE', `/api/v1/sessions/${String(mine?.sessionId)}`, admin)).status).toBe(404);
    expect((await api('GET', '/api/v1/sessions', admin)).body.sessions).toEqual([]);
  });

  it('refuses a user’s third concurrent session with 4429 until one of the two ends', async () => {
    const a = await open('lhins-list0002', 'frank');
    const b = await open('lhins-list0003', 'frank');
    await echoed(a);
    await echoed(b);
    const token = await h.token('frank');
    const third = h.open('lhins-list0001', { headers: { Authorization: `Bearer ${token}` } });
    const refused = await within(third.closed, 5000, 'refusal');
    expect(refused.code).toBe(4429);
    expect(JSON.parse(refused.reason)).toMatchObject({ code: 'rate_limited', retryAfter: expect.any(Number) });
    expect(h.audit().some((r) => r.type === 'ratelimit.exceeded' && r.scope === 'user-sessions' && r.actor?.sub === 'frank')).toBe(true);
    a.ws.close();
    await within(a.closed, 5000, 'close');
    await eventually(() => h.gateway.sessions.list().filter((x) => x.sub === 'frank').length === 1, 5000, 'the lease to be released');
    const fourth = await open('lhins-list0001', 'frank');
    await echoed(fourth);
    fourth.ws.close();
    b.ws.close();
  });

  it('keeps an exclusive support session alone on its instance', async () => {
    const support = await open('lhins-excl0001', 'sue', ['support']);
    await echoed(support);
    const other = h.open('lhins-excl0001', { headers: { Authorization: `Bearer ${await h.token('sam')}` } });
    expect((await within(other.closed, 5000, 'refusal')).code).toBe(4429);
    expect(h.audit().some((r) => r.type === 'ratelimit.exceeded' && r.scope === 'instance-sessions')).toBe(true);
    support.ws.close();
    await within(support.closed, 5000, 'close');
    await eventually(() => h.gateway.sessions.size === 0, 5000, 'the session to end');
    const after = await open('lhins-excl0001', 'sam');
    await echoed(after);
    after.ws.close();
  });
});
