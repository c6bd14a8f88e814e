// HMAC through the real gateway, configured on purpose: AUTH_HMAC_SECRET_FILE beside an RS256
// JWKS, AUTH_ALGORITHMS=RS256,HS256. Tokens signed with the secret and tokens signed with the
// IdP's key are both accepted; HS256 keyed with the IdP's public key (PEM and JWK forms, the
// confusion attack) is still refused on both doors, as it is without HMAC (hostile-tokens).

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../helpers/gateway-harness.js';
import { jwksEnv, makeKeyPair, signToken, startIdpJwks, unsignedToken, type KeyPair } from '../helpers/idp-keys.js';
import { describeOutcome, outcomeOf } from '../helpers/ws-outcome.js';
import type { JwksServer } from '../unit/auth/jwks-server.js';

const INSTANCE = 'lhins-echo0001';
const SECRET = new TextEncoder().encode('hmac-integration-secret-0123456789abcdef');

let h: Harness;
let rsa: KeyPair;
let idp: JwksServer;

beforeAll(async () => {
  rsa = await makeKeyPair('rsa-1');
  idp = await startIdpJwks(rsa);
  h = await startHarness({
    store: 'memory',
    instances: [{ id: INSTANCE, state: 'RUNNING', vnc: { kind: 'echo' } }],
    env: jwksEnv(idp.url, { AUTH_ALGORITHMS: 'RS256,HS256', AUTH_FAILURES_PER_MINUTE: '100000' }),
    prepare: (_simulator, dir) => {
      const file = join(dir, 'hmac-secret');
      // With a trailing newline, as `echo` writes it: not part of the secret.
      writeFileSync(file, `${new TextDecoder().decode(SECRET)}\n`);
      return { AUTH_HMAC_SECRET_FILE: file };
    },
  });
});

afterAll(async () => {
  await h?.close();
  await idp?.close();
});

async function ticketStatus(token: string): Promise<number> {
  const res = await fetch(`${h.gateway.url}/api/v1/instances/${INSTANCE}/tickets`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
  await res.body?.cancel();
  return res.status;
}

it.each([
  ['HS256 signed with the configured secret', () => signToken(SECRET, { alg: 'HS256' })],
  ['RS256 signed with the IdP key from the JWKS', () => signToken(rsa)],
])('accepts %s on both doors', async (_name, make) => {
  const token = await make();
  expect(await ticketStatus(token)).toBe(201);
  const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } });
  await within(s.opened, 5000, 'open');
  s.ws.send(Buffer.from('hi'));
  await eventually(() => s.received.length > 0, 5000, 'echo');
  s.ws.close();
  await within(s.closed, 5000, 'close');
});

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

describe.each<[string, () => Promise<string>]>([
  ['HS256 keyed with the RSA public key (PEM)', () => signToken(encode(rsa.pem), { alg: 'HS256' })],
  ['HS256 keyed with the RSA public key (JWK) under its kid', () => signToken(encode(JSON.stringify(rsa.jwk)), { alg: 'HS256', kid: 'rsa-1' })],
  ['HS256 keyed with another secret', () => signToken(encode('some-other-secret-0123456789abcdef-xyz'), { alg: 'HS256' })],
  ['HS512 keyed with the configured secret (not listed)', () => signToken(new Uint8Array(64).fill(3), { alg: 'HS512' })],
  ['alg none', async () => unsignedToken({ alg: 'none' })],
])('%s', (_name, make) => {
  it('is refused on the ticket call (401) and on the WebSocket (401 / 4401), with nothing relayed', async () => {
    const token = await make();
    const callsBefore = h.simulator.calls.length;
    expect(await ticketStatus(token)).toBe(401);
    const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } });
    expect(['http 401', 'close 4401']).toContain(describeOutcome(await outcomeOf(s)));
    expect(s.received).toHaveLength(0);
    expect(h.simulator.calls.length).toBe(callsBefore);
  });
});

it('never logs the secret', () => {
  const secret = new TextDecoder().decode(SECRET);
  expect(h.logLines.join('\n')).not.toContain(secret);
  expect(h.auditLines.join('\n')).not.toContain(secret);
});
