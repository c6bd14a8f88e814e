// Hostile tokens through the real gateway, configured with an RS256 JWKS URL served by a real
// local IdP: each is refused on BOTH doors (the ticket call with 401, the WebSocket with HTTP
// 401 or close 4401) and nothing reaches Tencent Cloud or the client. Also: the size caps, and
// the Origin rule for the SSO proxy's header.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHarness, within, eventually, type Harness } from '../helpers/gateway-harness.js';
import { jwksEnv, makeKeyPair, signToken, startIdpJwks, unsignedToken, claimsFor, type KeyPair } from '../helpers/idp-keys.js';
import { describeOutcome, outcomeOf } from '../helpers/ws-outcome.js';
import type { JwksServer } from '../unit/auth/jwks-server.js';
import { base64url } from 'jose';

const INSTANCE = 'lhins-echo0001';

let h: Harness;
let rsa: KeyPair;
let attacker: KeyPair;
let idp: JwksServer;
let evil: JwksServer;

beforeAll(async () => {
  [rsa, attacker] = await Promise.all([makeKeyPair('rsa-1'), makeKeyPair('attacker-1')]);
  [idp, evil] = await Promise.all([startIdpJwks(rsa), startIdpJwks(attacker)]);
  h = await startHarness({
    store: 'memory',
    instances: [{ id: INSTANCE, state: 'RUNNING', vnc: { kind: 'echo' } }],
    // Many failures from one address on purpose: the brute-force brake is tested elsewhere.
    env: jwksEnv(idp.url, { AUTH_FAILURES_PER_MINUTE: '100000', AUTH_TOKEN_HEADER: 'Cf-Access-Jwt-Assertion' }),
  });
});

afterAll(async () => {
  await h?.close();
  await Promise.all([idp?.close(), evil?.close()]);
});

async function ticketCall(headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.gateway.url}/api/v1/instances/${INSTANCE}/tickets`, { method: 'POST', headers });
  return { status: res.status, body: (await res.json().catch(() => ({}))) as Record<string, unknown> };
}

function bearer(token: string | undefined): Record<string, string> {
  return token === undefined ? {} : { Authorization: `Bearer ${token}` };
}

it('accepts a well-formed RS256 token from the JWKS on both doors (so every refusal below means something)', async () => {
  const token = await signToken(rsa);
  expect((await ticketCall(bearer(token))).status).toBe(201);
  const s = h.open(INSTANCE, { headers: bearer(token) });
  await within(s.opened, 5000, 'open');
  s.ws.send(Buffer.from('hi'));
  await eventually(() => s.received.length > 0, 5000, 'echo');
  s.ws.close();
  await within(s.closed, 5000, 'close');
});

const RSA_PEM = (): Uint8Array => new TextEncoder().encode(rsa.pem);
const RSA_JWK = (): Uint8Array => new TextEncoder().encode(JSON.stringify(rsa.jwk));
const now = (): number => Math.floor(Date.now() / 1000);

const HOSTILE: [string, () => Promise<string | undefined>][] = [
  ['a missing token', async () => undefined],
  ['an empty token', async () => ''],
  ['garbage', async () => 'not-a-jwt'],
  ['three garbage segments', async () => 'a.b.c'],
  ['alg none', async () => unsignedToken({ alg: 'none', kid: 'rsa-1' })],
  ['HS256 keyed with the RSA public key (PEM)', async () => signToken(RSA_PEM(), { alg: 'HS256' })],
  ['HS256 keyed with the RSA public key (JWK) under its kid', async () => signToken(RSA_JWK(), { alg: 'HS256', kid: 'rsa-1' })],
  ['an expired token (past the 30 s tolerance)', async () => signToken(rsa, { claims: { exp: now() - 60 } })],
  ['a token not yet valid', async () => signToken(rsa, { claims: { nbf: now() + 600 } })],
  ['a token from another issuer', async () => signToken(rsa, { claims: { iss: 'https://evil.example/' } })],
  ['a token for another audience', async () => signToken(rsa, { claims: { aud: 'another-app' } })],
  ['a token without exp', async () => signToken(rsa, { omit: ['exp'] })],
  ['a token with an unknown kid', async () => signToken(attacker, { kid: 'no-such-kid' })],
  ['a known kid signed with another key', async () => signToken(attacker, { kid: 'rsa-1' })],
  [
    'a tampered payload (groups widened)',
    async () => {
      const [header, , signature] = (await signToken(rsa, { claims: { groups: ['guests'] } })).split('.');
      return `${header}.${base64url.encode(JSON.stringify({ ...claimsFor(), groups: ['sre', 'admins'] }))}.${signature}`;
    },
  ],
  ['a jku header pointing at the attacker JWKS', async () => signToken(attacker, { header: { jku: evil.url } })],
  ['a jwk header embedding the attacker key', async () => signToken(attacker, { kid: null, header: { jwk: attacker.jwk } })],
  ['a jwk header embedding the attacker key under the known kid', async () => signToken(attacker, { kid: 'rsa-1', header: { jwk: attacker.jwk } })],
  ['an x5u header pointing at the attacker', async () => signToken(attacker, { header: { x5u: evil.url } })],
  ['a disallowed algorithm (RS512, same key)', async () => signToken(await rsaFor('RS512'), { alg: 'RS512', kid: 'rsa-1' })],
  [
    'an unknown crit header',
    async () => signToken(rsa, { header: { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true }, crit: { 'urn:example:must-understand': true } }),
  ],
  ['an oversized token (over 8 KiB, under the header limit)', async () => signToken(rsa, { claims: { padding: 'x'.repeat(9000) } })],
];

/** The RSA key re-imported for another algorithm (WebCrypto keys are bound to one). */
async function rsaFor(alg: string): Promise<KeyPair> {
  const { exportPKCS8, importPKCS8 } = await import('jose');
  return { ...rsa, privateKey: await importPKCS8(await exportPKCS8(rsa.privateKey), alg) };
}

describe.each(HOSTILE)('%s', (_name, make) => {
  it('is refused on the ticket call (401) and on the WebSocket (401 / 4401), with nothing relayed', async () => {
    const token = await make();
    const callsBefore = h.simulator.calls.length;
    const startedBefore = h.audit().filter((r) => r.type === 'session.started').length;

    const ticket = await ticketCall(bearer(token));
    expect(ticket.status).toBe(401);
    expect(ticket.body).toMatchObject({ error: { code: expect.stringMatching(/^auth_(required|invalid)$/) } });
    expect(ticket.body).not.toHaveProperty('ticket');

    const s = h.open(INSTANCE, { headers: bearer(token) });
    const outcome = describeOutcome(await outcomeOf(s));
    expect(['http 401', 'close 4401']).toContain(outcome);
    expect(s.received).toHaveLength(0);

    expect(h.simulator.calls.length).toBe(callsBefore);
    expect(h.audit().filter((r) => r.type === 'session.started').length).toBe(startedBefore);
  });
});

it('never fetched keys from a URL named in a token', () => {
  expect(evil.requests).toBe(0);
});

it('answers headers beyond the server limit with 431 on both doors', async () => {
  const huge = await signToken(rsa, { claims: { padding: 'x'.repeat(20_000) } });
  expect((await ticketCall(bearer(huge))).status).toBe(431);
  const outcome = await outcomeOf(h.open(INSTANCE, { headers: bearer(huge) }));
  expect(describeOutcome(outcome)).toBe('http 431');
});

it('writes an auth.failed record without the token for a refused one', async () => {
  const token = await signToken(attacker, { kid: 'rsa-1' });
  await ticketCall(bearer(token));
  const failed = h.audit().filter((r) => r.type === 'auth.failed');
  expect(failed.length).toBeGreaterThan(0);
  expect(h.auditLines.join('\n')).not.toContain(token);
  expect(h.logLines.join('\n')).not.toContain(token);
});

describe('the SSO proxy header (Cf-Access-Jwt-Assertion) is as ambient as a cookie', () => {
  it('refuses a header-authenticated upgrade from another origin or with none (403)', async () => {
    const headers = { 'Cf-Access-Jwt-Assertion': await signToken(rsa) };
    expect(describeOutcome(await outcomeOf(h.open(INSTANCE, { headers: { ...headers, Origin: 'https://evil.example' } })))).toBe('http 403');
    expect(describeOutcome(await outcomeOf(h.open(INSTANCE, { headers })))).toBe('http 403');
    expect(describeOutcome(await outcomeOf(h.open(INSTANCE, { headers: { ...headers, Origin: 'null' } })))).toBe('http 403');
  });

  it('refuses a header-authenticated ticket call from another origin or with none (403)', async () => {
    const headers = { 'Cf-Access-Jwt-Assertion': await signToken(rsa) };
    expect((await ticketCall({ ...headers, Origin: 'https://evil.example' })).status).toBe(403);
    expect((await ticketCall(headers)).status).toBe(403);
  });

  it('accepts it from the gateway’s own origin', async () => {
    const headers = { 'Cf-Access-Jwt-Assertion': await signToken(rsa), Origin: h.gateway.url };
    expect((await ticketCall(headers)).status).toBe(201);
    const s = h.open(INSTANCE, { headers });
    await within(s.opened, 5000, 'open');
    s.ws.close();
    await within(s.closed, 5000, 'close');
  });

  it('refuses a cookie-authenticated upgrade whose Origin only resembles ours', async () => {
    const cookie = `corp_session=${await signToken(rsa)}`;
    const lookalike = `${h.gateway.url}.evil.example`;
    expect(describeOutcome(await outcomeOf(h.open(INSTANCE, { headers: { Cookie: cookie, Origin: lookalike } })))).toBe('http 403');
  });
});
