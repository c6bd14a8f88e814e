// GET /metrics after a mix of sessions on the real gateway (simulator over TLS, real Redis):
// the exposition shows exactly the starts, ends, bytes, refusals, limit hits, auth failures
// and Tencent calls that happened, and the live-session and Redis gauges.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, within, eventually, type Harness } from '../helpers/gateway-harness.js';

/** The value of the one sample of `name` whose labels include `labels`; undefined when none. */
function sample(text: string, name: string, labels: Record<string, string> = {}): number | undefined {
  const matches = text.split('\n').filter((line) => {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) return false;
    return Object.entries(labels).every(([key, value]) => line.includes(`${key}="${value}"`));
  });
  if (matches.length > 1) throw new Error(`${matches.length} samples of ${name} match ${JSON.stringify(labels)}:\n${matches.join('\n')}`);
  const line = matches[0];
  return line === undefined ? undefined : Number(line.slice(line.lastIndexOf(' ') + 1));
}

describe('GET /metrics', () => {
  let h: Harness;
  const scrape = async (): Promise<string> => {
    const res = await fetch(`${h.gateway.url}/metrics`);
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toMatch(/^text\/plain; version=0\.0\.4/);
    return res.text();
  };
  const ticketFor = async (instanceId: string): Promise<string> => {
    const res = await h.requestTicket(instanceId, await h.token());
    expect(res.status).toBe(201);
    return res.body.ticket as string;
  };

  beforeAll(async () => {
    h = await startHarness({
      store: 'redis',
      // One attempt per instance per minute, so a second open of the same instance is refused.
      env: { INSTANCE_CONNECTS_PER_MINUTE: '1' },
      // lhins-excl0001 takes one session at a time (the earlier rule wins a tie), so a second
      // concurrent open is refused with scope instance-sessions.
      policyYaml: `
rules:
  - groups: [sre]
    instances: ["lhins-excl0001"]
    role: operator
    maxConcurrentSessions: 1
  - groups: [sre]
    instances: ["*"]
    role: operator
`,
      instances: [
        { id: 'lhins-excl0001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-echo0002', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-stopped1', state: 'STOPPED', vnc: { kind: 'echo' } },
      ],
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('starts with no sessions, and healthy Redis, readiness and audit gauges', async () => {
    // Redis connects in the background after listen; wait until the replica says it is ready.
    const deadline = Date.now() + 5000;
    while ((await fetch(`${h.gateway.url}/readyz`)).status !== 200) {
      if (Date.now() > deadline) throw new Error('gateway not ready within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const text = await scrape();
    expect(sample(text, 'vnc_gateway_sessions_live')).toBe(0);
    expect(sample(text, 'vnc_gateway_sessions_started_total')).toBe(0);
    expect(sample(text, 'vnc_gateway_redis_up')).toBe(1);
    expect(sample(text, 'vnc_gateway_readiness_check', { check: 'redis' })).toBe(1);
    expect(sample(text, 'vnc_gateway_readiness_check', { check: 'notDraining' })).toBe(1);
    expect(sample(text, 'vnc_gateway_audit_sink_up', { sink: 'stdout' })).toBe(1);
    expect(text).toContain('process_cpu_seconds_total');
  });

  it('counts what a mix of sessions did', async () => {
    // 1. A relayed session: 3000 bytes each way, closed by the client.
    const s = h.open('lhins-echo0001', { ticket: await ticketFor('lhins-echo0001') });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.alloc(1000, 1));
    s.ws.send(Buffer.alloc(2000, 2));
    await eventually(() => s.received.reduce((n, b) => n + b.length, 0) >= 3000, 5000, 'echo');
    await eventually(() => h.audit().some((r) => r.type === 'session.started'), 5000, 'session.started');
    expect(sample(await scrape(), 'vnc_gateway_sessions_live')).toBe(1);
    s.ws.close(1000);
    await within(s.closed, 5000, 'close');
    await eventually(() => h.audit().some((r) => r.type === 'session.ended'), 5000, 'session.ended');

    // 2. A stopped instance: Tencent refuses, the client gets 4409.
    const stopped = h.open('lhins-stopped1', { ticket: await ticketFor('lhins-stopped1') });
    expect((await within(stopped.closed, 5000, 'close')).code).toBe(4409);

    // 3. The per-instance budget: the second open of one instance within the minute gets 4429.
    const first = h.open('lhins-echo0002', { ticket: await ticketFor('lhins-echo0002') });
    await within(first.opened, 5000, 'open');
    first.ws.close(1000);
    await within(first.closed, 5000, 'close');
    const second = h.open('lhins-echo0002', { ticket: await ticketFor('lhins-echo0002') });
    expect((await within(second.closed, 5000, 'close')).code).toBe(4429);

    // 4. Authentication failures: no credential on the upgrade, and a forged bearer token.
    expect(await within(h.open('lhins-echo0001').refused, 5000, 'refusal')).toBe(401);
    expect((await h.requestTicket('lhins-echo0001', 'not.a.jwt')).status).toBe(401);

    // 5. A concurrency limit: a second session on an exclusive instance while the first is live.
    const holder = h.open('lhins-excl0001', { ticket: await ticketFor('lhins-excl0001') });
    await within(holder.opened, 5000, 'open');
    const intruder = h.open('lhins-excl0001', { ticket: await ticketFor('lhins-excl0001') });
    const refusal = await within(intruder.closed, 5000, 'close');
    expect(refusal.code).toBe(4429);
    holder.ws.close(1000);
    await within(holder.closed, 5000, 'close');

    await eventually(() => h.audit().filter((r) => r.type === 'session.ended').length === 3, 5000, 'three ends');
    const text = await scrape();
    expect(sample(text, 'vnc_gateway_sessions_live')).toBe(0);
    expect(sample(text, 'vnc_gateway_tickets_issued_total')).toBe(6);
    expect(sample(text, 'vnc_gateway_sessions_started_total')).toBe(3);
    expect(sample(text, 'vnc_gateway_sessions_ended_total', { close_code: '1000', closed_by: 'client', reason: 'client_closed' })).toBe(3);
    expect(sample(text, 'vnc_gateway_relayed_bytes_total', { direction: 'from_client' })).toBe(3000);
    expect(sample(text, 'vnc_gateway_relayed_bytes_total', { direction: 'from_upstream' })).toBe(3000);
    expect(sample(text, 'vnc_gateway_session_setup_seconds_count')).toBe(3);
    expect(sample(text, 'vnc_gateway_session_setup_seconds_bucket', { le: '+Inf' })).toBe(3);
    expect(sample(text, 'vnc_gateway_session_duration_seconds_count')).toBe(3);
    expect(sample(text, 'vnc_gateway_session_refusals_total', { code: 'instance_state', stage: 'upstream' })).toBe(1);
    expect(sample(text, 'vnc_gateway_session_refusals_total', { code: 'rate_limited', stage: 'upgrade' })).toBe(2);
    expect(sample(text, 'vnc_gateway_limit_refusals_total', { scope: 'instance' })).toBe(1);
    expect(sample(text, 'vnc_gateway_limit_refusals_total', { scope: 'instance-sessions' })).toBe(1);
    expect(sample(text, 'vnc_gateway_limit_refusals_total', { scope: 'other' })).toBeUndefined();
    expect(sample(text, 'vnc_gateway_auth_failures_total', { code: 'auth_required', source: 'none' })).toBe(1);
    expect(sample(text, 'vnc_gateway_auth_failures_total', { code: 'auth_invalid', source: 'bearer' })).toBe(1);
    const vnc = { product: 'lighthouse', action: 'DescribeInstanceVncUrl' };
    expect(sample(text, 'vnc_gateway_tencent_api_requests_total', { ...vnc, result: 'ok' })).toBe(3);
    expect(sample(text, 'vnc_gateway_tencent_api_requests_total', { ...vnc, result: 'UnsupportedOperation.InvalidInstanceState' })).toBe(1);
    expect(sample(text, 'vnc_gateway_tencent_api_duration_seconds_count', vnc)).toBe(4);
  });

  it('carries no user, instance or token in any label', async () => {
    const text = await scrape();
    expect(text).not.toMatch(/lhins-|sam@example\.com|vnc-gateway\.ticket|eyJ/);
  });
});
