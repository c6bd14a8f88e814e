// Property tests of the JWT verifier: arbitrary strings, mutated valid tokens and tokens with
// random headers and claims are accepted exactly when a reference model of the rules says so,
// and are otherwise refused with auth_invalid / auth_required, never another error, never a hang.

import { createHmac, generateKeyPairSync, sign as cryptoSign, type KeyObject } from 'node:crypto';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../auth/identity.js';
import { createJwtVerifier } from '../../auth/jwt-verifier.js';
import { GatewayError } from '../../gateway/errors.js';
import { fuzz, settlesWithin, type Settled } from './fuzz-settings.js';

const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'vnc-gateway';
const NOW_S = Date.UTC(2031, 0, 1) / 1000;
const TOLERANCE_S = 30;
const HANG_MS = 2000;

const own = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const attacker = generateKeyPairSync('ec', { namedCurve: 'P-256' });
const ownPem = own.publicKey.export({ type: 'spki', format: 'pem' }).toString();
const attackerJwk = attacker.publicKey.export({ format: 'jwk' });

const verifier = createJwtVerifier({
  staticKeys: ownPem,
  issuer: ISSUER,
  audience: AUDIENCE,
  algorithms: ['ES256', 'RS256', 'EdDSA'],
  clockToleranceSeconds: TOLERANCE_S,
  now: () => NOW_S * 1000,
});

const b64u = (data: string | Buffer): string => Buffer.from(data).toString('base64url');

type SignatureMode = 'own' | 'attacker' | 'hmac-with-public-key' | 'empty' | 'random';

/** Builds a compact JWS by hand, so headers and claims can be anything JSON can hold. */
function compact(header: unknown, payload: unknown, mode: SignatureMode, random = Buffer.alloc(64, 7)): string {
  const input = `${b64u(JSON.stringify(header))}.${b64u(JSON.stringify(payload))}`;
  const es256 = (key: KeyObject): Buffer => cryptoSign('sha256', Buffer.from(input), { key, dsaEncoding: 'ieee-p1363' });
  const signature = {
    own: () => es256(own.privateKey),
    attacker: () => es256(attacker.privateKey),
    // The classic confusion: the verifier's public key used as an HMAC secret.
    'hmac-with-public-key': () => createHmac('sha256', ownPem).update(input).digest(),
    empty: () => Buffer.alloc(0),
    random: () => random,
  }[mode]();
  return `${input}.${b64u(signature)}`;
}

const VALID_CLAIMS = { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', email: 'alice@example.com', groups: ['sre'], iat: NOW_S, exp: NOW_S + 300 };
const VALID_TOKEN = compact({ alg: 'ES256', typ: 'JWT' }, VALID_CLAIMS, 'own');

async function verify(token: string): Promise<Settled<Identity>> {
  return settlesWithin(verifier.verify(token), HANG_MS, `verify(${JSON.stringify(token.slice(0, 60))}…)`);
}

/** The only failures verify() may produce. */
function expectAuthRefusal(error: unknown, token: string): void {
  expect(error).toBeInstanceOf(GatewayError);
  const { code } = error as GatewayError;
  expect(code).toBe(token.trim() === '' ? 'auth_required' : 'auth_invalid');
}

// Characters a token is made of, plus the ones a lenient decoder might quietly skip or map.
const tokenChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.+/= \t\n%\u0000é\u{1F600}'.split(''));
const anyToken = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 300 }),
  fc.string({ unit: tokenChar, maxLength: 400 }),
  fc.tuple(fc.base64String(), fc.base64String(), fc.base64String()).map((parts) => parts.join('.')),
  fc.string({ unit: tokenChar, minLength: 8000, maxLength: 9000 }),
);

describe('JWT verification under arbitrary input', () => {
  it('refuses arbitrary strings with auth_invalid or auth_required, never anything else, never hanging', async () => {
    await fc.assert(
      fc.asyncProperty(anyToken, async (token) => {
        const outcome = await verify(token);
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) expectAuthRefusal(outcome.error, token);
      }),
      fuzz(300),
    );
  });

  it('accepts the unmutated reference token (so the properties below can fail)', async () => {
    const outcome = await verify(VALID_TOKEN);
    expect(outcome.ok && outcome.value.sub).toBe('user-1');
  });

  const mutation = fc.oneof(
    fc.record({ kind: fc.constant('replace' as const), at: fc.nat(), char: tokenChar }),
    fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), char: tokenChar }),
    fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), char: fc.constant('') }),
    fc.record({ kind: fc.constant('truncate' as const), at: fc.nat(), char: fc.constant('') }),
    fc.record({ kind: fc.constant('swap-segments' as const), at: fc.nat(), char: fc.constant('') }),
    fc.record({ kind: fc.constant('append' as const), at: fc.nat(), char: fc.string({ unit: tokenChar, minLength: 1, maxLength: 4 }) }),
  );

  function mutate(token: string, m: { kind: string; at: number; char: string }): string {
    const at = m.at % (token.length + 1);
    switch (m.kind) {
      case 'replace':
        return token.slice(0, at) + m.char + token.slice(at + 1);
      case 'insert':
        return token.slice(0, at) + m.char + token.slice(at);
      case 'delete':
        return token.slice(0, at) + token.slice(at + 1);
      case 'truncate':
        return token.slice(0, at);
      case 'swap-segments': {
        const [h = '', p = '', s = ''] = token.split('.');
        return [[p, h, s], [h, s, p], [s, p, h]][at % 3]!.join('.');
      }
      default:
        return token + m.char;
    }
  }

  it('never accepts a valid token once any character of it has changed', async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(mutation, { minLength: 1, maxLength: 3 }), async (mutations) => {
        const token = mutations.reduce(mutate, VALID_TOKEN);
        fc.pre(token !== VALID_TOKEN);
        const outcome = await verify(token);
        // A JWS is canonical base64url: no padding, whitespace, '+', '/' or stray low bits.
        expect(outcome.ok, `accepted a mutated token: ${token}`).toBe(false);
        if (!outcome.ok) expectAuthRefusal(outcome.error, token);
      }),
      fuzz(400),
    );
  });

  /** Mostly the first (valid) value, otherwise any of them: most cases break one or two rules. */
  const edgy = <T,>(values: readonly T[]): fc.Arbitrary<T> =>
    fc.oneof({ weight: 4, arbitrary: fc.constant(values[0] as T) }, { weight: 1, arbitrary: fc.constantFrom(...values) });

  it('refuses other spellings of the same signature, which a lenient base64 decoder would accept', async () => {
    const [h, p, s = ''] = VALID_TOKEN.split('.');
    const last = s.at(-1)!;
    // Same top bits, different low bits: decodes to the same signature bytes.
    const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_';
    const sibling = alphabet[(alphabet.indexOf(last) & ~0xf) | ((alphabet.indexOf(last) + 1) & 0xf)]!;
    const spellings = [
      `${VALID_TOKEN}\t`,
      `${VALID_TOKEN}==`,
      `${h}.${p}.${s.slice(0, 10)} ${s.slice(10)}`,
      `${h}.${p}.${Buffer.from(s, 'base64url').toString('base64')}`,
      `${h}.${p}.${s.slice(0, -1)}${sibling}`,
    ];
    for (const token of spellings) {
      expect(token).not.toBe(VALID_TOKEN);
      const outcome = await verify(token);
      expect(outcome.ok, `accepted ${JSON.stringify(token.slice(-12))}`).toBe(false);
    }
  });

  // Each claim is drawn from values around the rule's edges, the valid one first; `undefined` means absent.
  const claimValues = {
    iss: [ISSUER, ISSUER.slice(0, -1), `${ISSUER}x`, ISSUER.toUpperCase(), [ISSUER], null, 1, undefined],
    aud: [AUDIENCE, [AUDIENCE], ['other', AUDIENCE], 'other', [], [1], `${AUDIENCE} `, null, 5, undefined],
    exp: [NOW_S + 300, NOW_S - TOLERANCE_S + 1, NOW_S - TOLERANCE_S, NOW_S - TOLERANCE_S - 1, NOW_S + 0.5, 1e300, -1, 0, String(NOW_S + 300), null, [NOW_S + 300], undefined],
    nbf: [NOW_S, NOW_S + TOLERANCE_S, NOW_S + TOLERANCE_S + 1, -5, 'soon', null, undefined],
    iat: [NOW_S, NOW_S + 10_000, 'now', null, undefined],
    sub: ['user-1', '', ' ', 'ünïcødé', 5, null, ['user-1'], undefined],
    email: ['alice@example.com', '', 42, undefined],
    email_verified: [true, false, 'false', undefined],
    groups: [['sre'], 'sre', ['sre', 3, '', null], {}, undefined],
  } as const;
  type ClaimName = keyof typeof claimValues;
  const claimNames = Object.keys(claimValues) as ClaimName[];

  const claimsArb = fc
    .tuple(
      fc.tuple(...claimNames.map((name) => edgy(claimValues[name] as readonly unknown[]))),
      fc.dictionary(fc.string({ maxLength: 8 }).filter((k) => !(claimNames as string[]).includes(k)), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 3 }),
    )
    .map(([values, extra]) => {
      const claims: Record<string, unknown> = { ...extra };
      claimNames.forEach((name, i) => {
        if (values[i] !== undefined) claims[name] = values[i];
      });
      return claims;
    });

  const headerArb = fc
    .record({
      alg: edgy<unknown>(['ES256', 'es256', 'ES384', 'RS256', 'HS256', 'none', 'EdDSA', '', 256, null, undefined]),
      crit: edgy<unknown>([undefined, [], ['b64'], ['exp'], 'b64', ['']]),
      b64: edgy<unknown>([undefined, true, false, 'yes']),
      extra: fc.dictionary(
        fc.constantFrom('kid', 'typ', 'cty', 'jku', 'x5u', 'jwk', 'x5c', 'zip', 'x'),
        fc.oneof(fc.jsonValue({ maxDepth: 2 }), fc.constant(attackerJwk as unknown), fc.constant('https://attacker.example/jwks.json')),
        { maxKeys: 3 },
      ),
    })
    .map(({ alg, crit, b64, extra }) => {
      const header: Record<string, unknown> = { ...extra };
      if (alg !== undefined) header['alg'] = alg;
      if (crit !== undefined) header['crit'] = crit;
      if (b64 !== undefined) header['b64'] = b64;
      return header;
    });

  /** The rules, written out independently of jose: what a genuinely valid token looks like. */
  function shouldAccept(header: Record<string, unknown>, claims: unknown, mode: SignatureMode): boolean {
    if (mode !== 'own' || header['alg'] !== 'ES256') return false;
    // `crit` may only name extensions the verifier understands, and jose understands only b64=true.
    if ('crit' in header && !(JSON.stringify(header['crit']) === '["b64"]' && header['b64'] === true)) return false;
    if (typeof claims !== 'object' || claims === null || Array.isArray(claims)) return false;
    const c = claims as Record<string, unknown>;
    if (c['iss'] !== ISSUER) return false;
    const aud = c['aud'];
    if (!(aud === AUDIENCE || (Array.isArray(aud) && aud.includes(AUDIENCE)))) return false;
    if (typeof c['exp'] !== 'number' || c['exp'] <= NOW_S - TOLERANCE_S) return false;
    if ('nbf' in c && (typeof c['nbf'] !== 'number' || c['nbf'] > NOW_S + TOLERANCE_S)) return false;
    if ('iat' in c && typeof c['iat'] !== 'number') return false;
    return typeof c['sub'] === 'string' && c['sub'] !== '';
  }

  function expectedIdentity(claims: Record<string, unknown>): Identity {
    const groups = typeof claims['groups'] === 'string' ? [claims['groups']] : Array.isArray(claims['groups']) ? claims['groups'] : [];
    const email = claims['email'];
    return {
      sub: claims['sub'] as string,
      groups: groups.filter((g): g is string => typeof g === 'string' && g !== ''),
      expiresAt: claims['exp'] as number,
      ...(typeof email === 'string' && email !== '' && claims['email_verified'] !== false ? { email } : {}),
    };
  }

  it('accepts a token with random headers and claims exactly when the rules say it is valid', async () => {
    const payloadArb = fc.oneof({ weight: 12, arbitrary: claimsArb }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 2 }) });
    const modeArb = edgy<SignatureMode>(['own', 'attacker', 'hmac-with-public-key', 'empty', 'random']);
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(headerArb, payloadArb, modeArb, fc.uint8Array({ minLength: 0, maxLength: 80 }), async (header, claims, mode, random) => {
        const token = compact(header, claims, mode, Buffer.from(random));
        const outcome = await verify(token);
        const expected = shouldAccept(header, claims, mode);
        expect(outcome.ok, `header ${JSON.stringify(header)} claims ${JSON.stringify(claims)} signed ${mode}`).toBe(expected);
        if (outcome.ok) {
          accepted++;
          expect(outcome.value).toEqual(expectedIdentity(claims as Record<string, unknown>));
        } else {
          expectAuthRefusal(outcome.error, token);
        }
      }),
      fuzz(500),
    );
    // The generators must reach the accepting side too, or the property says little.
    expect(accepted).toBeGreaterThan(0);
  });
});
