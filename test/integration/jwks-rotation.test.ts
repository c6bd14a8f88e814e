// Key rotation through the real gateway: the IdP (a real JWKS server) publishes a new key,
// then withdraws the old one. New tokens are accepted after the refetch; tokens signed with
// the withdrawn key are refused once the cache (AUTH_JWKS_CACHE_S=1) has expired.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, within, type Harness } from '../helpers/gateway-harness.js';
import { jwksEnv, makeKeyPair, signToken, type KeyPair } from '../helpers/idp-keys.js';
import { describeOutcome, outcomeOf } from '../helpers/ws-outcome.js';
import { startJwksServer, type JwksServer } from '../unit/auth/jwks-server.js';

const INSTANCE = 'lhins-echo0001';

let h: Harness;
let oldKey: KeyPair;
let newKey: KeyPair;
let idp: JwksServer;

beforeAll(async () => {
  [oldKey, newKey] = await Promise.all([makeKeyPair('2031-01'), makeKeyPair('2031-02')]);
  idp = await startJwksServer({ keys: [oldKey.jwk] });
  h = await startHarness({
    store: 'memory',
    instances: [{ id: INSTANCE, state: 'RUNNING', vnc: { kind: 'echo' } }],
    env: jwksEnv(idp.url, { AUTH_JWKS_CACHE_S: '1', AUTH_FAILURES_PER_MINUTE: '100000' }),
  });
});

afterAll(async () => {
  await h?.close();
  await idp?.close();
});

async function ticketStatus(key: KeyPair): Promise<number> {
  const res = await fetch(`${h.gateway.url}/api/v1/instances/${INSTANCE}/tickets`, {
    method: 'POST',
    headers: { Authorization: `Bearer ${await signToken(key)}` },
  });
  await res.body?.cancel();
  return res.status;
}

/** Polls until `key`'s tokens get `status` on the ticket call; bounded. Returns the attempts made. */
async function untilStatus(key: KeyPair, status: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (let attempts = 1; ; attempts++) {
    if ((await ticketStatus(key)) === status) return attempts;
    if (Date.now() > deadline) throw new Error(`tokens of ${key.kid} never got ${status} within ${ms} ms`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

it('accepts tokens of the published key, fetching the JWKS once for several calls', async () => {
  expect(await ticketStatus(oldKey)).toBe(201);
  const fetched = idp.requests;
  expect(fetched).toBeGreaterThanOrEqual(1);
  expect(await ticketStatus(oldKey)).toBe(201);
  expect(idp.requests).toBeLessThanOrEqual(fetched + 1);
});

it('accepts tokens of a newly published key after the refetch, on both doors', async () => {
  const before = idp.requests;
  idp.setKeys({ keys: [oldKey.jwk, newKey.jwk] });
  await untilStatus(newKey, 201, 5000);
  expect(idp.requests).toBeGreaterThan(before);
  // Both keys are valid mid-rotation.
  expect(await ticketStatus(oldKey)).toBe(201);
  const s = h.open(INSTANCE, { headers: { Authorization: `Bearer ${await signToken(newKey)}` } });
  await within(s.opened, 5000, 'open with the new key');
  s.ws.close();
  await within(s.closed, 5000, 'close');
});

it('refuses tokens of a withdrawn key once the cache has expired, on both doors', async () => {
  idp.setKeys({ keys: [newKey.jwk] });
  await untilStatus(oldKey, 401, 5000);
  const outcome = await outcomeOf(h.open(INSTANCE, { headers: { Authorization: `Bearer ${await signToken(oldKey)}` } }));
  expect(describeOutcome(outcome)).toBe('close 4401');
  expect(await ticketStatus(newKey)).toBe(201);
});

it('refuses a token whose kid the IdP never published, even after refetching', async () => {
  const stranger = await makeKeyPair('2031-03');
  expect(await ticketStatus(stranger)).toBe(401);
});
