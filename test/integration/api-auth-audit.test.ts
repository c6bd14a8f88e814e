// Every API route authenticates the same way: refusals are audited and invalid credentials
// count against the caller's address, on the admin routes as on the ticket call.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/gateway-harness.js';

describe('authentication of the API routes', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', env: { AUTH_FAILURES_PER_MINUTE: '3' }, instances: [] });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('refuses a cookie-authenticated DELETE from another origin (CSRF) and audits it', async () => {
    const before = h.auditLines.length;
    const res = await fetch(`${h.gateway.url}/api/v1/sessions/00000000-0000-4000-8000-000000000000`, {
      method: 'DELETE',
      headers: { Cookie: `corp_session=${await h.token()}`, Origin: 'https://evil.example' },
    });
    expect(res.status).toBe(403);
    const refused = h.audit().slice(before);
    expect(refused).toEqual([expect.objectContaining({ type: 'auth.failed', code: 'origin_forbidden', source: 'cookie' })]);
  });

  it('audits a refused admin call and brakes an address that keeps presenting bad tokens', async () => {
    const before = h.auditLines.length;
    const statuses: number[] = [];
    for (const path of ['/api/v1/sessions', '/api/v1/audit', '/api/v1/instances', '/api/v1/sessions']) {
      const res = await fetch(`${h.gateway.url}${path}`, { headers: { Authorization: 'Bearer not.a.jwt' } });
      statuses.push(res.status);
    }
    expect(statuses.slice(0, 3)).toEqual([401, 401, 401]);
    expect(statuses[3]).toBe(429);
    const records = h.audit().slice(before);
    expect(records.filter((r) => r.type === 'auth.failed')).toHaveLength(4);
    expect(records.some((r) => r.type === 'ratelimit.exceeded' && r.scope === 'auth')).toBe(true);
    // The brake holds on the ticket call too, even for a valid token from that address.
    expect((await h.requestTicket('lhins-echo0001', await h.token())).status).toBe(429);
  });

});

describe('the console pages check sign-in the same way: audited, and behind the brake', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', env: { AUTH_FAILURES_PER_MINUTE: '2' }, instances: [] });
  });
  afterAll(async () => {
    await h?.close();
  });

  const page = (headers: Record<string, string>): Promise<Response> => fetch(`${h.gateway.url}/console/lhins-echo0001`, { headers });

  it('serves the page to a signed-in visitor, arriving from a link on another site too', async () => {
    const cookie = `corp_session=${await h.token()}`;
    expect((await page({ Cookie: cookie })).status).toBe(200);
    expect((await page({ Cookie: cookie, 'Sec-Fetch-Site': 'cross-site', 'Sec-Fetch-Mode': 'navigate' })).status).toBe(200);
    expect(h.audit().filter((r) => r.type === 'auth.failed')).toEqual([]);
  });

  it('answers a bad token with the sign-in page and an auth.failed record', async () => {
    const res = await page({ Cookie: 'corp_session=not.a.jwt' });
    expect(res.status).toBe(401);
    expect(res.headers.get('content-type')).toMatch(/text\/html/);
    expect(h.audit()).toContainEqual(expect.objectContaining({ type: 'auth.failed', code: 'auth_invalid', source: 'cookie' }));
  });

  it('is no free token-checking oracle: bad tokens count, and past the threshold even a valid one gets 429', async () => {
    expect((await page({ Authorization: 'Bearer not.a.jwt' })).status).toBe(401);
    const limited = await page({ Authorization: 'Bearer not.a.jwt' });
    expect(limited.status).toBe(429);
    expect(limited.headers.get('retry-after')).toMatch(/^\d+$/);
    expect((await page({ Cookie: `corp_session=${await h.token()}` })).status).toBe(429);
    expect(h.audit()).toContainEqual(expect.objectContaining({ type: 'ratelimit.exceeded', scope: 'auth' }));
    // The brake is the same as the API's: the ticket call from this address is refused too.
    expect((await h.requestTicket('lhins-echo0001', await h.token())).status).toBe(429);
  });
});
