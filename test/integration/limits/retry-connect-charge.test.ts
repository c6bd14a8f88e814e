// Retried DescribeInstanceVncUrl calls spend the instance's per-minute connect budget, as
// Tencent counts them: on one in-process gateway (memory state) against the simulator.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

const FLAKY = 'lhins-flaky001';

describe('retries against the per-instance budget', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      env: { INSTANCE_CONNECTS_PER_MINUTE: '2' },
      instances: [{ id: FLAKY, state: 'RUNNING', vnc: { kind: 'echo' } }],
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('stops retrying with 4429 once the instance’s attempts for the minute are spent, so Tencent never sees more', async () => {
    const since = h.simulator.calls.length;
    // A retry would succeed on the fourth call; the budget of two must stop it at the second.
    h.simulator.injectError({ code: 'InternalError', instanceId: FLAKY, count: 3 });
    const s = h.open(FLAKY, { headers: { Authorization: `Bearer ${await h.token('sam')}` } });
    s.ws.on('open', () => s.ws.send(Buffer.from('hello')));
    const relayed = eventually(() => s.received.length > 0, 15_000, 'an echo').then(() => 'relayed');
    relayed.catch(() => undefined);
    const outcome = await within(Promise.race([s.closed.then((c) => `closed ${c.code}`), relayed]), 15_000, 'the session to settle');
    expect(outcome).toBe('closed 4429');
    const closed = await s.closed;
    expect(JSON.parse(closed.reason)).toMatchObject({ code: 'rate_limited', retryAfter: expect.any(Number) });
    const calls = h.simulator.calls.slice(since).filter((c) => c.action === 'DescribeInstanceVncUrl');
    expect(calls.map((c) => c.code)).toEqual(['InternalError', 'InternalError']);
    await eventually(() => h.audit().some((r) => r.type === 'ratelimit.exceeded'), 5000, 'the ratelimit.exceeded record');
    expect(h.audit().find((r) => r.type === 'ratelimit.exceeded')).toMatchObject({ scope: 'instance', instanceId: FLAKY });
  });
});
