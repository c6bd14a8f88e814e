// Session admission on one in-process gateway (memory state): the per-user start limit
// (USER_SESSIONS_PER_MINUTE) refuses with 4429 scope `user` and the exact wait, and a refusal
// by one limit does not spend the budgets checked before it.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../../helpers/gateway-harness.js';

const INSTANCES = Array.from({ length: 8 }, (_, i) => `lhins-admit00${i}`);
const id = (i: number): string => INSTANCES[i] as string;

describe('session admission', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      env: { USER_SESSIONS_PER_MINUTE: '2', INSTANCE_CONNECTS_PER_MINUTE: '1' },
      instances: INSTANCES.map((instanceId) => ({ id: instanceId, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } })),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function attempt(instanceId: string, sub: string): Promise<OpenedSocket> {
    return h.open(instanceId, { headers: { Authorization: `Bearer ${await h.token(sub)}` } });
  }

  /** Opens a session, proves it relays (the echo answers), and ends it. */
  async function session(instanceId: string, sub: string): Promise<void> {
    const s = await attempt(instanceId, sub);
    s.ws.on('open', () => s.ws.send(Buffer.from('ping')));
    const outcome = await within(Promise.race([s.closed.then((c) => `closed ${c.code} ${c.reason}`), eventuallyEchoed(s)]), 10_000, `a session on ${instanceId}`);
    expect(outcome).toBe('echoed');
    s.ws.close(1000);
    await within(s.closed, 5000, 'the session to close');
  }

  async function eventuallyEchoed(s: OpenedSocket): Promise<string> {
    await eventually(() => s.received.length > 0, 10_000, 'the echo');
    return 'echoed';
  }

  async function refusal(instanceId: string, sub: string): Promise<{ code: number; reason: { code: string; retryAfter: number }; sentAt: number; at: number }> {
    const sentAt = Date.now();
    const s = await attempt(instanceId, sub);
    const closed = await within(s.closed, 10_000, 'the refusal');
    return { code: closed.code, reason: JSON.parse(closed.reason) as { code: string; retryAfter: number }, sentAt, at: Date.now() };
  }

  it('refuses a user’s third session start within a minute with 4429 scope user, the exact wait and a ratelimit.exceeded record', async () => {
    const firstAt = Date.now();
    await session(id(0), 'uma');
    const firstStarted = h.audit().find((r) => r.type === 'session.started' && r.actor?.sub === 'uma');
    expect(firstStarted).toBeDefined();
    await session(id(1), 'uma');

    const refused = await refusal(id(2), 'uma');
    expect(refused.code).toBe(4429);
    expect(refused.reason.code).toBe('rate_limited');
    // The first start was counted between firstAt and its session.started record; its minute ends then.
    const firstCountedBy = Date.parse(String(firstStarted?.ts));
    expect(refused.reason.retryAfter).toBeGreaterThanOrEqual(Math.floor((firstAt + 60_000 - refused.at) / 1000));
    expect(refused.reason.retryAfter).toBeLessThanOrEqual(Math.ceil((firstCountedBy + 60_000 - refused.sentAt) / 1000));
    await eventually(() => h.audit().some((r) => r.type === 'ratelimit.exceeded' && r.actor?.sub === 'uma'), 5000, 'the ratelimit.exceeded record');
    const record = h.audit().find((r) => r.type === 'ratelimit.exceeded' && r.actor?.sub === 'uma');
    expect(record).toMatchObject({ scope: 'user', instanceId: id(2), retryAfter: refused.reason.retryAfter });
    expect(h.audit().some((r) => r.type === 'session.denied' && r.actor?.sub === 'uma' && r.code === 'rate_limited')).toBe(true);

    // The refusal by the user limit did not spend the instance's one attempt of the minute.
    await session(id(2), 'vera');
  });

  it('does not count a start the per-instance budget refused against the user', async () => {
    await session(id(3), 'otto'); // the instance's one attempt this minute
    for (let i = 0; i < 2; i++) {
      const refused = await refusal(id(3), 'ike');
      expect(refused.code).toBe(4429);
      await eventually(() => h.audit().filter((r) => r.type === 'ratelimit.exceeded' && r.actor?.sub === 'ike').length === i + 1, 5000, 'the refusal record');
    }
    expect(h.audit().filter((r) => r.type === 'ratelimit.exceeded' && r.actor?.sub === 'ike').map((r) => r.type === 'ratelimit.exceeded' && r.scope)).toEqual(['instance', 'instance']);
    // Both of ike's starts this minute are still there.
    await session(id(4), 'ike');
    await session(id(5), 'ike');
  });
});
