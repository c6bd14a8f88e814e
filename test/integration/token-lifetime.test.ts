// How long a session may outlive the JWT that opened it: by default until the policy's cap;
// with AUTH_END_SESSION_AT_EXPIRY=true it ends with 4401 when the token expires (also when the
// session was opened through a ticket, which carries the token's exp).

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../helpers/gateway-harness.js';

const INSTANCE = 'lhins-echo0001';
const instances = [{ id: INSTANCE, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } }];

async function shortLivedToken(h: Harness, seconds: number): Promise<{ token: string; expiresAtMs: number }> {
  const token = await h.idp.sign({ sub: 'sam', email: 'sam@example.com', groups: ['sre'] }, { expiresInSeconds: seconds });
  const exp = (JSON.parse(Buffer.from(token.split('.')[1]!, 'base64url').toString()) as { exp: number }).exp;
  return { token, expiresAtMs: exp * 1000 };
}

async function echoes(s: OpenedSocket, byte: number): Promise<void> {
  const before = s.received.length;
  s.ws.send(Buffer.from([byte]));
  await eventually(() => s.received.length > before, 5000, `echo of ${byte}`);
}

describe('by default', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', instances });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lets a session outlive the token that opened it', async () => {
    const { token, expiresAtMs } = await shortLivedToken(h, 2);
    const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } });
    await within(s.opened, 5000, 'open');
    await eventually(() => Date.now() > expiresAtMs + 500, 5000, 'the token to expire');
    await echoes(s, 7);
    s.ws.close(1000);
    expect((await within(s.closed, 5000, 'close')).code).toBe(1000);
  });
});

describe('with AUTH_END_SESSION_AT_EXPIRY=true', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', instances, env: { AUTH_END_SESSION_AT_EXPIRY: 'true' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('ends a JWT-opened session with 4401 when the token expires', async () => {
    const { token, expiresAtMs } = await shortLivedToken(h, 2);
    const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } });
    await within(s.opened, 5000, 'open');
    await echoes(s, 1);
    const outcome = await within(s.closed, 8000, 'the close at expiry');
    expect(outcome.code).toBe(4401);
    expect(JSON.parse(outcome.reason)).toMatchObject({ code: 'auth_invalid' });
    expect(Date.now()).toBeGreaterThanOrEqual(expiresAtMs - 1000);
    await eventually(() => h.audit().some((r) => r.type === 'session.ended'), 5000, 'session.ended');
    expect(h.audit().find((r) => r.type === 'session.ended')).toMatchObject({ closeCode: 4401, closedBy: 'gateway', reason: 'token_expired' });
  });

  it('ends a ticket-opened session when the token behind the ticket expires', async () => {
    const { token } = await shortLivedToken(h, 2);
    const res = await h.requestTicket(INSTANCE, token);
    expect(res.status).toBe(201);
    const s = h.open(INSTANCE, { ticket: res.body.ticket as string });
    await within(s.opened, 5000, 'open');
    expect((await within(s.closed, 8000, 'the close at expiry')).code).toBe(4401);
  });

  it('refuses a token already past its exp but inside the clock tolerance', async () => {
    const { token, expiresAtMs } = await shortLivedToken(h, 1);
    await eventually(() => Date.now() > expiresAtMs + 100, 5000, 'the token to expire');
    const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } });
    expect((await within(s.closed, 5000, 'close')).code).toBe(4401);
    expect(s.received).toHaveLength(0);
  });
});
