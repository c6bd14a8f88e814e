// The brute-force brake through the real gateway with Redis state: failed authentications are
// counted per client IP across both doors, and past AUTH_FAILURES_PER_MINUTE the gateway
// answers 429 (Retry-After) on the ticket call and 4429 (retryAfter) on the WebSocket, with an
// audit record. X-Forwarded-For counts only through TRUST_PROXY.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/gateway-harness.js';
import { describeOutcome, outcomeOf } from '../helpers/ws-outcome.js';

const INSTANCE = 'lhins-echo0001';
const instances = [{ id: INSTANCE, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } }];

async function ticketCall(h: Harness, token: string, forwardedFor?: string): Promise<Response> {
  return fetch(`${h.gateway.url}/api/v1/instances/${INSTANCE}/tickets`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${token}`, ...(forwardedFor ? { 'X-Forwarded-For': forwardedFor } : {}) },
  });
}

async function rawTicketCall(h: Harness, body: string, headers: Record<string, string>): Promise<Response> {
  return fetch(`${h.gateway.url}/api/v1/instances/${INSTANCE}/tickets`, { method: 'POST', headers: { 'Content-Type': 'application/json', ...headers }, body });
}

describe('behind one trusted proxy (TRUST_PROXY=1)', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'redis', instances, env: { AUTH_FAILURES_PER_MINUTE: '3', TRUST_PROXY: '1' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  const attackerIp = '203.0.113.7';

  it('answers 401 up to the threshold, counting failures on both doors together', async () => {
    // Two WebSocket failures (a forged ticket, a bad JWT) and one ticket-call failure: 3 of 3.
    const forged = h.open(INSTANCE, { ticket: 'A'.repeat(43), headers: { 'X-Forwarded-For': attackerIp } });
    expect(describeOutcome(await outcomeOf(forged))).toBe('close 4401');
    const badJwt = h.open(INSTANCE, { headers: { Authorization: 'Bearer not.a.jwt', 'X-Forwarded-For': attackerIp } });
    expect(describeOutcome(await outcomeOf(badJwt))).toBe('close 4401');
    const res = await ticketCall(h, 'garbage', attackerIp);
    expect(res.status).toBe(401);
  });

  it('answers the next failure with 429, Retry-After and retryAfter, and audits it', async () => {
    const res = await ticketCall(h, 'garbage', attackerIp);
    expect(res.status).toBe(429);
    const retryAfter = Number(res.headers.get('retry-after'));
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(60);
    expect(await res.json()).toMatchObject({ error: { code: 'rate_limited', retryAfter } });
    expect(h.audit()).toContainEqual(expect.objectContaining({ type: 'ratelimit.exceeded', scope: 'auth', clientIp: attackerIp }));
  });

  it('then refuses that address up front, valid credentials included, on both doors', async () => {
    const valid = await h.token();
    const res = await ticketCall(h, valid, attackerIp);
    expect(res.status).toBe(429);
    expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${valid}`, 'X-Forwarded-For': attackerIp } });
    const outcome = await outcomeOf(s);
    expect(describeOutcome(outcome)).toBe('close 4429');
    if (outcome.kind === 'close') expect(JSON.parse(outcome.reason)).toMatchObject({ code: 'rate_limited', retryAfter: expect.any(Number) });
    expect(s.received).toHaveLength(0);
  });

  it('checks the brake before reading the body: a blocked address with a malformed body gets 429', async () => {
    for (const headers of [{ Authorization: `Bearer ${await h.token()}` }, {}] as Record<string, string>[]) {
      const res = await rawTicketCall(h, '{"region": ', { ...headers, 'X-Forwarded-For': attackerIp });
      expect(res.status).toBe(429);
      expect(res.headers.get('retry-after')).toMatch(/^\d+$/);
    }
  });

  it('checks who is calling before reading the body: no token with a malformed or oversized body is 401', async () => {
    const stranger = { 'X-Forwarded-For': '198.51.100.77' };
    const malformed = await rawTicketCall(h, '{"region": ', stranger);
    expect(malformed.status).toBe(401);
    expect(await malformed.json()).toMatchObject({ error: { code: 'auth_required' } });
    const oversized = await rawTicketCall(h, JSON.stringify({ region: 'x'.repeat(4096) }), stranger);
    expect(oversized.status).toBe(401);
    // Once authenticated, the body is read and judged as before.
    const judged = await rawTicketCall(h, '{"region": ', { ...stranger, Authorization: `Bearer ${await h.token()}` });
    expect(judged.status).toBe(400);
  });

  it('leaves other client addresses alone', async () => {
    const res = await ticketCall(h, await h.token(), '198.51.100.9');
    expect(res.status).toBe(201);
  });
});

describe('without TRUST_PROXY', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', instances, env: { AUTH_FAILURES_PER_MINUTE: '2' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('ignores X-Forwarded-For: rotating it does not escape the count', async () => {
    expect((await ticketCall(h, 'garbage', '203.0.113.1')).status).toBe(401);
    expect((await ticketCall(h, 'garbage', '203.0.113.2')).status).toBe(401);
    expect((await ticketCall(h, 'garbage', '203.0.113.3')).status).toBe(429);
    const limited = h.audit().find((r) => r.type === 'ratelimit.exceeded');
    expect(limited?.clientIp).toBe('127.0.0.1');
  });
});
