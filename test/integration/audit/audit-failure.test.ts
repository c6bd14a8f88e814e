// When the trail cannot be written, new tickets and sessions are refused (503 / close 4503)
// and /readyz says which sink is broken; AUDIT_ON_FAILURE=continue admits them, and says so.
// /dev/full stands in for a full disk: it opens for appending and fails every write.

import { afterEach, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

const INSTANCES = [{ id: 'lhins-fail0001', state: 'RUNNING' as const, vnc: { kind: 'echo' as const } }];

async function readyz(h: Harness): Promise<{ status: number; checks: Record<string, boolean> }> {
  const res = await fetch(`${h.gateway.url}/readyz`);
  return { status: res.status, checks: ((await res.json()) as { checks: Record<string, boolean> }).checks };
}

describe('an audit sink that cannot write', () => {
  let h: Harness | undefined;
  afterEach(async () => {
    await h?.close();
    h = undefined;
  });

  it('refuses tickets with 503 and sessions with 4503 until the trail can be written, and fails readiness', async () => {
    h = await startHarness({ store: 'memory', env: { AUDIT_FILE: '/dev/full' }, instances: INSTANCES });
    const gateway = h;
    expect((await readyz(gateway)).checks['audit.file']).toBe(true);
    // The first record's write fails: from then on the sink reports itself broken.
    await gateway.requestTicket('lhins-fail0001', await gateway.token());
    await eventually(() => gateway.gateway.audit.sinkHealth().file === false, 5000, 'file sink to fail');
    const ready = await readyz(gateway);
    expect(ready.status).toBe(503);
    expect(ready.checks['audit.file']).toBe(false);

    const ticket = await gateway.requestTicket('lhins-fail0001', await gateway.token());
    expect(ticket.status).toBe(503);
    expect(ticket.body).toMatchObject({ error: { code: 'audit_unavailable' } });

    const s = gateway.open('lhins-fail0001', { headers: { Authorization: `Bearer ${await gateway.token()}` } });
    const outcome = await within(s.closed, 5000, 'close');
    expect(outcome.code).toBe(4503);
    expect(JSON.parse(outcome.reason)).toMatchObject({ code: 'audit_unavailable' });
    // The refusals themselves reach the sinks that still work.
    expect(gateway.audit().filter((r) => r.type === 'session.denied' && 'code' in r && r.code === 'audit_unavailable')).toHaveLength(2);
  });

  it('admits sessions with AUDIT_ON_FAILURE=continue, and logs that it does', async () => {
    h = await startHarness({ store: 'memory', env: { AUDIT_FILE: '/dev/full', AUDIT_ON_FAILURE: 'continue' }, instances: INSTANCES });
    const gateway = h;
    expect(gateway.logLines.some((l) => l.includes('AUDIT_ON_FAILURE=continue'))).toBe(true);
    await gateway.requestTicket('lhins-fail0001', await gateway.token());
    await eventually(() => gateway.gateway.audit.sinkHealth().file === false, 5000, 'file sink to fail');
    const ticket = await gateway.requestTicket('lhins-fail0001', await gateway.token());
    expect(ticket.status).toBe(201);
    const s = gateway.open('lhins-fail0001', { ticket: ticket.body.ticket as string });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from([1]));
    await eventually(() => s.received.length > 0, 5000, 'echo');
    s.ws.close();
    await within(s.closed, 5000, 'close');
    expect(gateway.logLines.some((l) => l.includes('admitting anyway because AUDIT_ON_FAILURE=continue'))).toBe(true);
    expect((await readyz(gateway)).checks['audit.file']).toBeUndefined();
  });
});
