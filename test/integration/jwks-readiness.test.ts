// Readiness follows the signing keys through the real gateway: while the IdP's JWKS endpoint
// serves no key usable for AUTH_ALGORITHMS (an empty set, a key for another algorithm) or
// answers with an error, GET /readyz is 503 and names `signingKeys`; once it serves a usable
// key, 200. A load balancer then keeps traffic away from a replica that would refuse everyone.

import { afterAll, beforeAll, expect, it } from 'vitest';
import { startHarness, type Harness } from '../helpers/gateway-harness.js';
import { jwksEnv, makeKeyPair, type KeyPair } from '../helpers/idp-keys.js';
import { startJwksServer, type JwksServer } from '../unit/auth/jwks-server.js';

let h: Harness;
let rsa: KeyPair;
let ec: KeyPair;
let idp: JwksServer;

beforeAll(async () => {
  [rsa, ec] = await Promise.all([makeKeyPair('rsa-1'), makeKeyPair('ec-1', 'ES256')]);
  idp = await startJwksServer({ keys: [] });
  h = await startHarness({
    store: 'memory',
    // A 1 s cache (and so a 1 s cooldown) lets readiness see each change of the JWKS quickly.
    env: jwksEnv(idp.url, { AUTH_JWKS_CACHE_S: '1', AUTH_ALGORITHMS: 'RS256' }),
  });
});

afterAll(async () => {
  await h?.close();
  await idp?.close();
});

interface Readiness {
  status: number;
  checks: Record<string, boolean>;
}

async function readyz(): Promise<Readiness> {
  const res = await fetch(`${h.gateway.url}/readyz`);
  const body = (await res.json()) as { checks: Record<string, boolean> };
  return { status: res.status, checks: body.checks };
}

/** Polls /readyz until it answers `status`, at most `ms`; returns that answer. */
async function untilReadyz(status: number, ms: number): Promise<Readiness> {
  const deadline = Date.now() + ms;
  for (;;) {
    const answer = await readyz();
    if (answer.status === status) return answer;
    if (Date.now() > deadline) throw new Error(`/readyz never answered ${status} within ${ms} ms (last: ${JSON.stringify(answer)})`);
    await new Promise((resolve) => setTimeout(resolve, 150));
  }
}

/** Not ready because of the keys, and only the keys. */
function expectKeysNotReady(answer: Readiness): void {
  expect(answer.status).toBe(503);
  expect(answer.checks.signingKeys).toBe(false);
  const others = Object.entries(answer.checks).filter(([name]) => name !== 'signingKeys');
  expect(others.every(([, ok]) => ok), JSON.stringify(answer.checks)).toBe(true);
}

it('is not ready while the JWKS is empty, although the fetch itself succeeds', async () => {
  const before = idp.requests;
  expectKeysNotReady(await readyz());
  expect(idp.requests).toBeGreaterThan(before);
  // Stays so on later probes (after the cooldown, too), rather than flapping to ready.
  await new Promise((resolve) => setTimeout(resolve, 1200));
  expectKeysNotReady(await readyz());
});

it('is not ready while the JWKS holds only a key for an algorithm not in AUTH_ALGORITHMS', async () => {
  idp.setKeys({ keys: [ec.jwk] });
  await new Promise((resolve) => setTimeout(resolve, 1200));
  expectKeysNotReady(await readyz());
});

it('is not ready while the JWKS endpoint answers with an error', async () => {
  idp.setBehaviour('error');
  await new Promise((resolve) => setTimeout(resolve, 1200));
  expectKeysNotReady(await readyz());
});

it('becomes ready once the endpoint serves a usable key, and not ready again when it is withdrawn', async () => {
  idp.setBehaviour('keys');
  idp.setKeys({ keys: [ec.jwk, rsa.jwk] });
  const ready = await untilReadyz(200, 10_000);
  expect(ready.checks.signingKeys).toBe(true);
  idp.setKeys({ keys: [] });
  expectKeysNotReady(await untilReadyz(503, 10_000));
});
