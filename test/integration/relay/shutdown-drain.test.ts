// Graceful shutdown: new sessions are refused and readiness turns false at once, sessions that
// end within SHUTDOWN_GRACE_S are not cut, and the rest are closed with 1001.

import { afterAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

describe('shutdown draining', () => {
  let h: Harness;
  afterAll(async () => {
    await h?.simulator.close();
  });

  it('lets sessions finish within the grace, refuses new ones, then closes the rest with 1001', async () => {
    h = await startHarness({
      store: 'memory',
      instances: [
        { id: 'lhins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-echo0002', state: 'RUNNING', vnc: { kind: 'echo' } },
      ],
    });
    const token = await h.token();
    const finishing = h.open('lhins-echo0001', { ticket: (await h.requestTicket('lhins-echo0001', token)).body.ticket as string });
    const lingering = h.open('lhins-echo0002', { ticket: (await h.requestTicket('lhins-echo0002', token)).body.ticket as string });
    await within(Promise.all([finishing.opened, lingering.opened]), 5000, 'both open');

    const closing = h.gateway.close({ graceMs: 1500 });
    const ready = await fetch(`${h.gateway.url}/readyz`);
    expect(ready.status).toBe(503);
    const refused = h.open('lhins-echo0001', { headers: { Authorization: `Bearer ${token}` } });
    expect(await within(refused.refused, 5000, 'refusal')).toBe(503);

    // Still relaying during the grace, then ending by itself.
    finishing.ws.send(Buffer.from([1, 2]));
    await eventually(() => finishing.received.length > 0, 5000, 'echo during the grace');
    finishing.ws.close(1000);
    expect((await within(finishing.closed, 5000, 'finishing close')).code).toBe(1000);

    expect((await within(lingering.closed, 10_000, 'lingering close')).code).toBe(1001);
    await within(closing, 10_000, 'close()');
    const ended = h.audit().filter((r) => r.type === 'session.ended');
    expect(ended.find((r) => r.instanceId === 'lhins-echo0001')).toMatchObject({ closedBy: 'client', closeCode: 1000 });
    expect(ended.find((r) => r.instanceId === 'lhins-echo0002')).toMatchObject({ closedBy: 'gateway', closeCode: 1001, reason: 'shutdown' });
  });
});
