// Resilience through the whole gateway: an upstream that closes (the instance is stopped) ends
// the session normally, and one that freezes (no reads, no pongs: simulator.stallInstance) is
// detected by the keepalive and ended with 4504; both with one start and one end record.
// (The relay alone: test/integration/relay/relay-session.test.ts; upstream failures and resets:
// test/integration/audit/session-ends.test.ts.)

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

describe('upstream faults under a running gateway', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      instances: [
        { id: 'lhins-upclose1', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-upstall1', state: 'RUNNING', vnc: { kind: 'echo' } },
      ],
      env: { KEEPALIVE_INTERVAL_S: '1' },
      overrides: { relay: { closeTimeoutMs: 500 } },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  async function openEchoing(instanceId: string) {
    const s = h.open(instanceId, { headers: { Authorization: `Bearer ${await h.token()}` } });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from('before the fault'));
    await eventually(() => s.received.length === 1, 5000, 'the first echo');
    return s;
  }

  const endsOf = (instanceId: string) => h.audit().filter((r) => r.instanceId === instanceId && (r.type === 'session.started' || r.type === 'session.ended'));

  it('ends the session with 1000 when the upstream closes, then refuses 4409 while the instance is stopped', async () => {
    const s = await openEchoing('lhins-upclose1');
    h.simulator.setInstanceState('lhins-upclose1', 'STOPPED');
    expect((await within(s.closed, 5000, 'the close')).code).toBe(1000);
    const again = h.open('lhins-upclose1', { headers: { Authorization: `Bearer ${await h.token()}` } });
    expect((await within(again.closed, 5000, 'the refusal')).code).toBe(4409);
    h.simulator.setInstanceState('lhins-upclose1', 'RUNNING');
    await eventually(() => endsOf('lhins-upclose1').length === 2, 5000, 'the end record');
    expect(endsOf('lhins-upclose1').map((r) => r.type)).toEqual(['session.started', 'session.ended']);
    expect(endsOf('lhins-upclose1')[1]).toMatchObject({ reason: 'upstream_closed', closedBy: 'upstream' });
  });

  it('ends a session whose upstream froze with 4504 once a keepalive goes unanswered', async () => {
    const s = await openEchoing('lhins-upstall1');
    expect(h.simulator.stallInstance('lhins-upstall1', 30_000)).toBe(1);
    s.ws.send(Buffer.from('never echoed'));
    // KEEPALIVE_INTERVAL_S=1: dead after at most two intervals; the bound only keeps a hang from lasting.
    const closed = await within(s.closed, 10_000, 'the keepalive to end the session');
    expect(closed.code).toBe(4504);
    expect(s.received).toHaveLength(1);
    await eventually(() => endsOf('lhins-upstall1').length === 2, 5000, 'the end record');
    expect(endsOf('lhins-upstall1')[1]).toMatchObject({ reason: 'upstream_keepalive_timeout', closeCode: 4504 });
    expect(h.gateway.sessions.size).toBe(0);
  });
});
