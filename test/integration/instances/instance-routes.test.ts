// GET /api/v1/instances and the pages' sign-in gate through the whole gateway: the same token
// sources as the ticket API, foreign pages refused, no caching, security headers.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CONTENT_SECURITY_POLICY } from '../../../gateway/console/security-headers.js';
import { startHarness, type Harness } from '../../helpers/gateway-harness.js';

describe('GET /api/v1/instances', () => {
  let h: Harness;
  let url: string;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      instances: [
        { id: 'lhins-echo0001', name: 'echo', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-stopped1', name: 'stopped', state: 'STOPPED', vnc: { kind: 'echo' } },
      ],
      env: { INSTANCE_LIST_REGIONS: 'ap-guangzhou', AUTH_LOGIN_URL: 'https://sso.example.test/login' },
    });
    url = `${h.gateway.url}/api/v1/instances`;
  });
  afterAll(async () => {
    await h?.close();
  });

  it('lists the instances for a bearer token, uncached, with the security headers', async () => {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${await h.token('sam')}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    expect(res.headers.get('referrer-policy')).toBe('no-referrer');
    const body = (await res.json()) as { instances: { instanceId: string; state: string; connectable: boolean }[] };
    expect(body.instances.map(({ instanceId, state, connectable }) => ({ instanceId, state, connectable }))).toEqual([
      { instanceId: 'lhins-echo0001', state: 'RUNNING', connectable: true },
      { instanceId: 'lhins-stopped1', state: 'STOPPED', connectable: false },
    ]);
  });

  it('filters by the policy: alice sees only the instances her rule names', async () => {
    const res = await fetch(url, { headers: { Authorization: `Bearer ${await h.token('alice', { groups: [] })}` } });
    const body = (await res.json()) as { instances: { instanceId: string }[] };
    expect(body.instances.map((i) => i.instanceId)).toEqual(['lhins-echo0001']);
  });

  it('accepts the SSO cookie from a same-origin page', async () => {
    const res = await fetch(url, { headers: { Cookie: `corp_session=${await h.token('sam')}`, 'Sec-Fetch-Site': 'same-origin' } });
    expect(res.status).toBe(200);
  });

  it('refuses a request without a sign-in', async () => {
    const res = await fetch(url);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('auth_required');
  });

  it('refuses an invalid token', async () => {
    const res = await fetch(url, { headers: { Authorization: 'Bearer not.a.jwt' } });
    expect(res.status).toBe(401);
  });

  it.each([
    ['a foreign Origin', { Origin: 'https://evil.example' }],
    ['a cross-site fetch without Origin', { 'Sec-Fetch-Site': 'cross-site' }],
  ])('refuses cookie credentials sent by %s', async (_, headers) => {
    const res = await fetch(url, { headers: { Cookie: `corp_session=${await h.token('sam')}`, ...headers } });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { code: string } }).error.code).toBe('origin_forbidden');
  });
});

describe('the pages behind the sign-in gate', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', env: { AUTH_LOGIN_URL: 'https://sso.example.test/login' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it.each(['/', '/console/lhins-demo0001'])('serves %s to a signed-in user and the 401 page otherwise', async (path) => {
    const signedIn = await fetch(`${h.gateway.url}${path}`, { headers: { Cookie: `corp_session=${await h.token('sam')}` } });
    expect(signedIn.status).toBe(200);
    expect(await signedIn.text()).toMatch(/<script type="module" src="\/assets\/(instances|console)\.js">/);
    expect(signedIn.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);

    const visitors: Record<string, string>[] = [{}, { Cookie: 'corp_session=expired.or.forged' }];
    for (const headers of visitors) {
      const anonymous = await fetch(`${h.gateway.url}${path}`, { headers });
      expect(anonymous.status).toBe(401);
      expect(anonymous.headers.get('content-security-policy')).toBe(CONTENT_SECURITY_POLICY);
      expect(anonymous.headers.get('x-frame-options')).toBe('DENY');
      const html = await anonymous.text();
      expect(html).toContain('href="https://sso.example.test/login"');
      expect(html).not.toMatch(/<script/i);
    }
  });
});
