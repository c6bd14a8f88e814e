// Resilience: a Tencent API that stops answering (the simulator holds the request open). One
// hung call is retried and the session opens; an API that hangs on every attempt is refused
// with 4504 within the connect deadline, never a hanging session, and leaves nothing behind.
// (Errors and RequestLimitExceeded answers: test/integration/session.test.ts and
// test/simulator/tencent-retries.test.ts; dropped connections: tencent-retries too.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

const API_TIMEOUT_MS = 500;
const CONNECT_DEADLINE_MS = 2500;
// Room for the handshake, the JWT check and the close frame on a busy machine; nowhere near
// another deadline's worth.
const MARGIN_MS = 1000;

describe('a hung Tencent API', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      instances: [{ id: 'lhins-hang0001', state: 'RUNNING', vnc: { kind: 'echo' } }],
      env: { TENCENTCLOUD_API_TIMEOUT_MS: String(API_TIMEOUT_MS), SESSION_CONNECT_DEADLINE_MS: String(CONNECT_DEADLINE_MS) },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  const callsSince = (since: number): string[] => h.simulator.calls.slice(since).filter((c) => c.action === 'DescribeInstanceVncUrl').map((c) => c.code);

  it('retries a call that timed out and opens the session', async () => {
    const since = h.simulator.calls.length;
    h.simulator.injectError({ code: 'InternalError', instanceId: 'lhins-hang0001', hang: true, count: 1 });
    const s = h.open('lhins-hang0001', { headers: { Authorization: `Bearer ${await h.token()}` } });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from('after a hung call'));
    await eventually(() => Buffer.concat(s.received).toString() === 'after a hung call', 5000, 'the echo');
    expect(callsSince(since)).toEqual(['hung', 'ok']);
    s.ws.close();
    await within(s.closed, 5000, 'close');
  });

  it('refuses with 4504 when every attempt hangs, within the connect deadline, and releases everything', async () => {
    const since = h.simulator.calls.length;
    h.simulator.injectError({ code: 'InternalError', instanceId: 'lhins-hang0001', hang: true, count: 10 });
    const token = await h.token();
    const started = Date.now();
    const s = h.open('lhins-hang0001', { headers: { Authorization: `Bearer ${token}` } });
    // The deadline, plus at most one API timeout for an attempt begun just before it, plus a
    // small margin: a session that retries past its deadline fails here.
    const bound = CONNECT_DEADLINE_MS + API_TIMEOUT_MS + MARGIN_MS;
    const closed = await within(s.closed, bound, 'the refusal');
    expect(Date.now() - started).toBeLessThan(bound);
    expect(closed.code).toBe(4504);
    expect(JSON.parse(closed.reason)).toMatchObject({ code: 'tencent_api_timeout' });
    const calls = callsSince(since);
    expect(calls.length).toBeGreaterThanOrEqual(2);
    expect(calls.every((c) => c === 'hung')).toBe(true);
    await eventually(() => h.audit().some((r) => r.type === 'session.denied' && 'code' in r && r.code === 'tencent_api_timeout'), 5000, 'the denial record');
    expect(h.gateway.sessions.size).toBe(0);
    expect(h.gateway.setups.pending).toBe(0);
    expect(await h.gateway.fleet.list()).toHaveLength(0);
  });
});
