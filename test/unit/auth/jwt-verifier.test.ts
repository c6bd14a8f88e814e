import { generateKeyPairSync } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { base64url, exportJWK, exportPKCS8, exportSPKI, generateKeyPair, importPKCS8, SignJWT, type JWK } from 'jose';
import { createJwtVerifier, type JwtVerifier, type JwtVerifierOptions } from '../../../auth/jwt-verifier.js';
import { ERROR_CATALOGUE, GatewayError } from '../../../gateway/errors.js';
import { startJwksServer, type JwksServer } from './jwks-server.js';

type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];
interface Pair {
  privateKey: SigningKey;
  pem: string;
  jwk: JWK;
}

const ISSUER = 'https://idp.example.test/';
const AUDIENCE = 'vnc-gateway';
const NOW = Date.UTC(2031, 0, 1);
const NOW_S = NOW / 1000;
const now = (): number => NOW;
const ALGS = ['RS256', 'ES256', 'EdDSA'];

const fixture = (name: string): string => readFileSync(fileURLToPath(new URL(`./fixtures/${name}`, import.meta.url)), 'utf8');

async function makePair(alg: string, kid: string): Promise<Pair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { privateKey, pem: await exportSPKI(publicKey), jwk: { ...(await exportJWK(publicKey)), kid } };
}

function baseClaims(): Record<string, unknown> {
  return { iss: ISSUER, aud: AUDIENCE, sub: 'user-1', email: 'alice@example.com', groups: ['sre'], iat: NOW_S, exp: NOW_S + 300 };
}

interface SignOptions {
  alg?: string;
  kid?: string;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  omit?: string[];
  crit?: Record<string, boolean>;
}

async function sign(key: SigningKey | Uint8Array, options: SignOptions = {}): Promise<string> {
  const claims = baseClaims();
  for (const name of options.omit ?? []) delete claims[name];
  Object.assign(claims, options.claims);
  const header = { alg: options.alg ?? 'RS256', ...(options.kid === undefined ? {} : { kid: options.kid }), ...options.header };
  return new SignJWT(claims).setProtectedHeader(header).sign(key, options.crit ? { crit: options.crit } : undefined);
}

function unsigned(header: Record<string, unknown>, claims: Record<string, unknown>): string {
  const part = (value: unknown): string => base64url.encode(JSON.stringify(value));
  return `${part(header)}.${part(claims)}.`;
}

/** The RSA test key, imported for another algorithm (WebCrypto keys are bound to one). */
async function rsaAs(alg: string): Promise<SigningKey> {
  return importPKCS8(await exportPKCS8(rsa.privateKey), alg);
}

async function refusal(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error, 'the token was accepted').toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

let rsa: Pair;
let ec: Pair;
let ed: Pair;
let attacker: Pair;
let rsaNew: Pair;
let idp: JwksServer;
let evil: JwksServer;

beforeAll(async () => {
  [rsa, ec, ed, attacker, rsaNew] = await Promise.all([
    makePair('RS256', 'rsa-1'),
    makePair('ES256', 'ec-1'),
    makePair('EdDSA', 'ed-1'),
    makePair('RS256', 'attacker-1'),
    makePair('RS256', 'rsa-2'),
  ]);
  idp = await startJwksServer({ keys: [rsa.jwk] });
  evil = await startJwksServer({ keys: [attacker.jwk] });
});

afterAll(async () => {
  await Promise.all([idp?.close(), evil?.close()]);
});

function options(overrides: Partial<JwtVerifierOptions>): JwtVerifierOptions {
  return { issuer: ISSUER, audience: AUDIENCE, algorithms: ALGS, now, ...overrides };
}

describe('createJwtVerifier options', () => {
  it.each<[string, Partial<JwtVerifierOptions>, RegExp]>([
    ['both key sources', { jwksUrl: 'https://idp.example.test/jwks', staticKeys: '{}' }, /exactly one of jwksUrl/],
    ['no key source', {}, /exactly one of jwksUrl/],
    ['an empty algorithm list', { jwksUrl: 'https://idp.example.test/jwks', algorithms: [] }, /at least one algorithm/],
    ['alg none', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['RS256', 'none'] }, /"none" is never accepted/],
    ['alg NONE', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['NONE'] }, /"none" is never accepted/],
    ['HS256', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['HS256'] }, /HS256 is HMAC/],
    ['hs512', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['RS256', 'hs512'] }, /hs512 is HMAC/],
    ['an unknown algorithm', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['RS257'] }, /"RS257" is not supported/],
    ['a clock tolerance over 300 s', { jwksUrl: 'https://idp.example.test/jwks', clockToleranceSeconds: 301 }, /between 0 and 300/],
    ['a negative clock tolerance', { jwksUrl: 'https://idp.example.test/jwks', clockToleranceSeconds: -1 }, /between 0 and 300/],
    ['a zero token size limit', { jwksUrl: 'https://idp.example.test/jwks', maxTokenBytes: 0 }, /maxTokenBytes/],
    ['a non-http JWKS URL', { jwksUrl: 'file:///etc/jwks.json' }, /must be an https URL/],
    ['a JWKS URL with credentials', { jwksUrl: 'https://u:p@idp.example.test/jwks' }, /credentials/],
    ['a fractional JWKS timeout', { jwksUrl: 'https://idp.example.test/jwks', jwksTimeoutMs: 1.5 }, /jwksTimeoutMs/],
    ['a missing issuer', { jwksUrl: 'https://idp.example.test/jwks', issuer: '' }, /issuer/],
    ['a missing audience', { jwksUrl: 'https://idp.example.test/jwks', audience: '' }, /audience/],
    ['an empty groups path segment', { jwksUrl: 'https://idp.example.test/jwks', groupsClaim: 'realm_access..roles' }, /groupsClaim/],
    ['a key file that is neither PEM nor JSON', { staticKeys: 'hello' }, /neither PEM/],
    ['an empty key file', { staticKeys: '  \n' }, /empty/],
    ['a JWKS without keys', { staticKeys: '{"keys":[]}' }, /non-empty "keys"/],
    ['a symmetric JWKS key', { staticKeys: '{"keys":[{"kty":"oct","k":"c2VjcmV0"}]}' }, /symmetric/],
  ])('refuses %s', (_name, overrides, message) => {
    expect(() => createJwtVerifier(options(overrides))).toThrow(message);
  });

  it.each([
    'http://idp.example.test/jwks',
    'http://10.0.0.7/jwks',
    'http://[fe80::1]/jwks',
    'http://localhost.evil.example/jwks',
    'http://127.0.0.1.nip.io/jwks',
  ])('refuses the plain-http JWKS URL %s: anyone on the path could substitute keys', (jwksUrl) => {
    expect(() => createJwtVerifier(options({ jwksUrl }))).toThrow(/jwksUrl \(AUTH_JWKS_URL\) must be https/);
  });

  it.each(['http://127.0.0.1:8080/jwks', 'http://127.9.8.7/jwks', 'http://[::1]:9000/jwks', 'http://localhost/jwks', 'http://LOCALHOST:1/jwks', 'https://idp.example.test/jwks'])(
    'accepts the JWKS URL %s (https, or plain http to a loopback host)',
    (jwksUrl) => {
      expect(() => createJwtVerifier(options({ jwksUrl }))).not.toThrow();
    },
  );

  it('refuses a private key in the key file, as PEM and as JWK', () => {
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    const pem = privateKey.export({ type: 'pkcs8', format: 'pem' }) as string;
    expect(() => createJwtVerifier(options({ staticKeys: pem }))).toThrow(/private key/);
    const jwk = privateKey.export({ format: 'jwk' });
    expect(() => createJwtVerifier(options({ staticKeys: JSON.stringify({ keys: [jwk] }) }))).toThrow(/private key material \(d\)/);
  });

  it('refuses an RSA key shorter than 2048 bits', () => {
    const { publicKey } = generateKeyPairSync('rsa', { modulusLength: 1024 });
    const pem = publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(() => createJwtVerifier(options({ staticKeys: pem }))).toThrow(/1024-bit RSA key/);
  });

  it('refuses a key file whose keys fit none of the allowed algorithms', () => {
    expect(() => createJwtVerifier(options({ staticKeys: ec.pem, algorithms: ['RS256', 'EdDSA'] }))).toThrow(/no key in the key file/);
  });

  it('lists every problem at once', () => {
    const attempt = (): unknown => createJwtVerifier({ issuer: '', audience: '', algorithms: ['none', 'HS256'], clockToleranceSeconds: 900 });
    expect(attempt).toThrow(/exactly one of[\s\S]*issuer[\s\S]*audience[\s\S]*between 0 and 300[\s\S]*"none"[\s\S]*HS256/);
  });
});

// Each hostile token is tried against every kind of key source.
// The last column is why: matched against the cause's jose code and message.
const hostile: [string, () => Promise<string | undefined>, 'auth_required' | 'auth_invalid', RegExp][] = [
  ['a missing token', async () => undefined, 'auth_required', /^$/],
  ['an empty token', async () => '', 'auth_required', /^$/],
  ['a blank token', async () => '   ', 'auth_required', /^$/],
  ['garbage', async () => 'not-a-jwt', 'auth_invalid', /ERR_JWS_INVALID/],
  ['three garbage segments', async () => 'a.b.c', 'auth_invalid', /ERR_JWS_INVALID/],
  ['a token with alg none', async () => unsigned({ alg: 'none' }, baseClaims()), 'auth_invalid', /ALG_NOT_ALLOWED/],
  ['a token with alg None and no signature', async () => unsigned({ alg: 'None', typ: 'JWT' }, baseClaims()), 'auth_invalid', /ALG_NOT_ALLOWED/],
  ['an RS256 header with the signature stripped', async () => unsigned({ alg: 'RS256', kid: 'rsa-1' }, baseClaims()), 'auth_invalid', /SIGNATURE_VERIFICATION_FAILED/],
  ['HS256 keyed with the RSA public key as PEM', async () => sign(new TextEncoder().encode(rsa.pem), { alg: 'HS256' }), 'auth_invalid', /ALG_NOT_ALLOWED/],
  ['HS256 keyed with the RSA public key as JWK', async () => sign(new TextEncoder().encode(JSON.stringify(rsa.jwk)), { alg: 'HS256', kid: 'rsa-1' }), 'auth_invalid', /ALG_NOT_ALLOWED/],
  ['an expired token (past the 30 s tolerance)', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { exp: NOW_S - 31 } }), 'auth_invalid', /ERR_JWT_EXPIRED/],
  ['a token not yet valid', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { nbf: NOW_S + 120 } }), 'auth_invalid', /"nbf" claim/],
  ['a token from another issuer', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { iss: 'https://evil.example/' } }), 'auth_invalid', /"iss" claim/],
  ['a token for another audience', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { aud: 'other-app' } }), 'auth_invalid', /"aud" claim/],
  ['a token without exp', async () => sign(rsa.privateKey, { kid: 'rsa-1', omit: ['exp'] }), 'auth_invalid', /missing required "exp"/],
  ['a token with a non-numeric exp', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { exp: 'tomorrow' } }), 'auth_invalid', /"exp" claim must be a number/],
  ['a token without sub', async () => sign(rsa.privateKey, { kid: 'rsa-1', omit: ['sub'] }), 'auth_invalid', /no "sub"/],
  ['a token with an empty sub', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { sub: '' } }), 'auth_invalid', /no "sub"/],
  ['a token with a numeric sub', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { sub: 42 } }), 'auth_invalid', /no "sub"/],
  ['a token with an unknown kid', async () => sign(attacker.privateKey, { kid: 'unknown-kid' }), 'auth_invalid', /NO_MATCHING_KEY|SIGNATURE_VERIFICATION_FAILED/],
  ['a token with a known kid signed by another key', async () => sign(attacker.privateKey, { kid: 'rsa-1' }), 'auth_invalid', /SIGNATURE_VERIFICATION_FAILED/],
  [
    'a token with a tampered payload',
    async () => {
      const [header, , signature] = (await sign(rsa.privateKey, { kid: 'rsa-1' })).split('.');
      const payload = base64url.encode(JSON.stringify({ ...baseClaims(), groups: ['admins'] }));
      return `${header}.${payload}.${signature}`;
    },
    'auth_invalid', /SIGNATURE_VERIFICATION_FAILED/,
  ],
  ['a token whose jku header points at an attacker JWKS', async () => sign(attacker.privateKey, { kid: 'attacker-1', header: { jku: evil.url } }), 'auth_invalid', /NO_MATCHING_KEY|SIGNATURE_VERIFICATION_FAILED/],
  ['a token whose x5u header points at an attacker', async () => sign(attacker.privateKey, { kid: 'attacker-1', header: { x5u: evil.url } }), 'auth_invalid', /NO_MATCHING_KEY|SIGNATURE_VERIFICATION_FAILED/],
  ['a token embedding the attacker key in a jwk header', async () => sign(attacker.privateKey, { header: { jwk: attacker.jwk } }), 'auth_invalid', /SIGNATURE_VERIFICATION_FAILED/],
  ['a token embedding the attacker key under a known kid', async () => sign(attacker.privateKey, { kid: 'rsa-1', header: { jwk: attacker.jwk } }), 'auth_invalid', /SIGNATURE_VERIFICATION_FAILED/],
  ['a token with a disallowed algorithm (PS256)', async () => sign(await rsaAs('PS256'), { alg: 'PS256', kid: 'rsa-1' }), 'auth_invalid', /ALG_NOT_ALLOWED/],
  ['a token with a disallowed algorithm (RS512)', async () => sign(await rsaAs('RS512'), { alg: 'RS512', kid: 'rsa-1' }), 'auth_invalid', /ALG_NOT_ALLOWED/],
  [
    'a token with an unknown critical header',
    async () => sign(rsa.privateKey, { kid: 'rsa-1', header: { crit: ['urn:example:must-understand'], 'urn:example:must-understand': true }, crit: { 'urn:example:must-understand': true } }),
    'auth_invalid', /urn:example:must-understand/,
  ],
  ['an oversized token', async () => sign(rsa.privateKey, { kid: 'rsa-1', claims: { padding: 'x'.repeat(9000) } }), 'auth_invalid', /longer than 8192 bytes/],
];

describe.each([
  ['a PEM public key', (): JwtVerifier => createJwtVerifier(options({ staticKeys: rsa.pem }))],
  ['a JWKS file', (): JwtVerifier => createJwtVerifier(options({ staticKeys: JSON.stringify({ keys: [rsa.jwk] }) }))],
  ['a JWKS URL', (): JwtVerifier => createJwtVerifier(options({ jwksUrl: idp.url }))],
])('verifying against %s', (_source, makeVerifier) => {
  let verifier: JwtVerifier;
  beforeAll(() => {
    verifier = makeVerifier();
  });

  it('accepts a valid token (the control for the refusals below)', async () => {
    await expect(verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }))).resolves.toMatchObject({ sub: 'user-1' });
  });

  it.each(hostile)('refuses %s', async (_name, make, code, because) => {
    const token = await make();
    const error = await refusal(verifier.verify(token as string));
    expect(error.code).toBe(code);
    // The client sees the catalogue sentence; the reason stays in `cause` for the logs.
    expect(error.message).toBe(ERROR_CATALOGUE[code].message);
    const cause = error.cause as { code?: string; message?: string } | undefined;
    expect(cause === undefined ? '' : `${cause.code ?? ''} ${cause.message ?? ''}`).toMatch(because);
  });

  it('never fetches keys from a URL named in the token', () => {
    expect(evil.requests).toBe(0);
  });
});

describe('token checks', () => {
  const verifier = (): JwtVerifier => createJwtVerifier(options({ staticKeys: rsa.pem }));

  it('refuses an oversized token before parsing it', async () => {
    const error = await refusal(verifier().verify(`${'a'.repeat(9000)}.b.c`));
    expect((error.cause as Error).message).toMatch(/longer than 8192 bytes/);
  });

  it('counts the size in bytes, not characters', async () => {
    const small = createJwtVerifier(options({ staticKeys: rsa.pem, maxTokenBytes: 100 }));
    const error = await refusal(small.verify('é'.repeat(60)));
    expect((error.cause as Error).message).toMatch(/longer than 100 bytes/);
  });

  it('refuses an expired token with the reason in the cause', async () => {
    const error = await refusal(verifier().verify(await sign(rsa.privateKey, { claims: { exp: NOW_S - 60 } })));
    expect(error.cause).toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('accepts a token expired within the clock tolerance', async () => {
    const token = await sign(rsa.privateKey, { claims: { exp: NOW_S - 20 } });
    await expect(verifier().verify(token)).resolves.toMatchObject({ expiresAt: NOW_S - 20 });
  });

  it('honours a configured clock tolerance of zero', async () => {
    const strict = createJwtVerifier(options({ staticKeys: rsa.pem, clockToleranceSeconds: 0 }));
    const error = await refusal(strict.verify(await sign(rsa.privateKey, { claims: { exp: NOW_S - 1 } })));
    expect(error.cause).toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('reads time from the injected clock', async () => {
    const later = createJwtVerifier(options({ staticKeys: rsa.pem, now: () => NOW + 3_600_000 }));
    const error = await refusal(later.verify(await sign(rsa.privateKey)));
    expect(error.cause).toMatchObject({ code: 'ERR_JWT_EXPIRED' });
  });

  it('accepts a token whose aud is a list containing the audience', async () => {
    const token = await sign(rsa.privateKey, { claims: { aud: ['other', AUDIENCE] } });
    await expect(verifier().verify(token)).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('refuses a disallowed algorithm for the right reason, even with the right key', async () => {
    const error = await refusal(verifier().verify(await sign(await rsaAs('PS256'), { alg: 'PS256' })));
    expect(error.cause).toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    const allowing = createJwtVerifier(options({ staticKeys: rsa.pem, algorithms: ['PS256'] }));
    await expect(allowing.verify(await sign(await rsaAs('PS256'), { alg: 'PS256' }))).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('refuses HS256 for the right reason: the algorithm is not allowed', async () => {
    const error = await refusal(verifier().verify(await sign(new TextEncoder().encode(rsa.pem), { alg: 'HS256' })));
    expect(error.cause).toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
  });

  it('refuses an unknown crit header for the right reason', async () => {
    const token = await sign(rsa.privateKey, { header: { crit: ['urn:x'], 'urn:x': 1 }, crit: { 'urn:x': true } });
    const error = await refusal(verifier().verify(token));
    expect(error.cause).toMatchObject({ code: 'ERR_JOSE_NOT_SUPPORTED', message: expect.stringMatching(/urn:x/) });
  });
});

describe('HMAC, only with a secret configured on purpose (AUTH_HMAC_SECRET_FILE)', () => {
  const SECRET = new TextEncoder().encode('a-shared-secret-of-at-least-32-bytes-0123456789');
  const PEM_AS_SECRET = (): Uint8Array => new TextEncoder().encode(rsa.pem);
  const JWK_AS_SECRET = (): Uint8Array => new TextEncoder().encode(JSON.stringify(rsa.jwk));

  it.each<[string, Partial<JwtVerifierOptions>, RegExp]>([
    ['HS256 without a secret', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['RS256', 'HS256'] }, /HS256 is HMAC, accepted only with a shared secret configured on purpose \(AUTH_HMAC_SECRET_FILE\)/],
    ['a secret without an HS algorithm', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['RS256'], hmacSecret: SECRET }, /hmacSecret \(AUTH_HMAC_SECRET_FILE\) is set but algorithms lists no HS256, HS384 or HS512/],
    ['a secret shorter than 32 bytes', { algorithms: ['HS256'], hmacSecret: new Uint8Array(31) }, /at least 32 bytes/],
    ['a secret shorter than HS512 needs', { algorithms: ['HS256', 'HS512'], hmacSecret: new Uint8Array(48).fill(7) }, /at least 64 bytes for HS512/],
    ['a public key given as the secret (PEM)', { algorithms: ['HS256'], hmacSecret: new TextEncoder().encode('-----BEGIN PUBLIC KEY-----\nMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA\n-----END PUBLIC KEY-----\n') }, /looks like a key, not a secret/],
    ['a public key given as the secret (JWK)', { algorithms: ['HS256'], hmacSecret: new TextEncoder().encode('{"kty":"RSA","n":"0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4","e":"AQAB"}') }, /looks like a key, not a secret/],
    ['an HS-only list with a key source it cannot use', { jwksUrl: 'https://idp.example.test/jwks', algorithms: ['HS256'], hmacSecret: SECRET }, /lists no asymmetric algorithm/],
    ['a lowercase HMAC name, even with a secret', { algorithms: ['hs256'], hmacSecret: SECRET }, /"hs256" is not supported/],
  ])('refuses %s', (_name, overrides, message) => {
    expect(() => createJwtVerifier(options(overrides))).toThrow(message);
  });

  describe.each([
    ['with a JWKS URL', (): Partial<JwtVerifierOptions> => ({ jwksUrl: idp.url })],
    ['with a PEM key file', (): Partial<JwtVerifierOptions> => ({ staticKeys: rsa.pem })],
    ['with a JWKS key file', (): Partial<JwtVerifierOptions> => ({ staticKeys: JSON.stringify({ keys: [rsa.jwk] }) })],
  ])('beside asymmetric keys %s', (_source, keys) => {
    const verifier = (): JwtVerifier => createJwtVerifier(options({ ...keys(), algorithms: ['RS256', 'HS256'], hmacSecret: SECRET }));

    it('accepts HS256 signed with the configured secret, and RS256 from the keys', async () => {
      const v = verifier();
      await expect(v.verify(await sign(SECRET, { alg: 'HS256' }))).resolves.toMatchObject({ sub: 'user-1' });
      // A kid naming a public key changes nothing: HS tokens are checked against the secret only.
      await expect(v.verify(await sign(SECRET, { alg: 'HS256', kid: 'rsa-1' }))).resolves.toMatchObject({ sub: 'user-1' });
      await expect(v.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }))).resolves.toMatchObject({ sub: 'user-1' });
    });

    it.each([
      ['the RSA public key as PEM', PEM_AS_SECRET, undefined],
      ['the RSA public key as JWK, under its kid', JWK_AS_SECRET, 'rsa-1'],
      ['another secret', () => new TextEncoder().encode('another-secret-of-at-least-32-bytes-long!!'), undefined],
    ])('refuses HS256 keyed with %s', async (_name, key, kid) => {
      const error = await refusal(verifier().verify(await sign(key(), { alg: 'HS256', ...(kid ? { kid } : {}) })));
      expect(error.code).toBe('auth_invalid');
      expect(error.cause).toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
    });

    it('refuses an HS algorithm that is not listed (HS512 signed with the secret)', async () => {
      const error = await refusal(verifier().verify(await sign(new Uint8Array(64).fill(1), { alg: 'HS512' })));
      expect(error.cause).toMatchObject({ code: 'ERR_JOSE_ALG_NOT_ALLOWED' });
    });
  });

  it('works with the secret alone when only HS algorithms are listed, and reports its keys ready', async () => {
    const verifier = createJwtVerifier(options({ algorithms: ['HS256', 'HS384'], hmacSecret: new Uint8Array(48).fill(9) }));
    expect(verifier.keySource).toBe('hmac-secret');
    await expect(verifier.keysReady()).resolves.toBe(true);
    await expect(verifier.verify(await sign(new Uint8Array(48).fill(9), { alg: 'HS384' }))).resolves.toMatchObject({ sub: 'user-1' });
    await refusal(verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' })));
  });
});

describe('valid tokens', () => {
  const signers = {
    RS256: () => rsa,
    ES256: () => ec,
    EdDSA: () => ed,
  };
  const certificates = { RS256: 'rsa-cert', ES256: 'ec-cert', EdDSA: 'ed25519-cert' };

  it.each(Object.keys(signers) as (keyof typeof signers)[])('accepts %s from a PEM public key', async (alg) => {
    const pair = signers[alg]();
    const verifier = createJwtVerifier(options({ staticKeys: pair.pem }));
    // The token's kid is ignored for PEM keys, which have none.
    const identity = await verifier.verify(await sign(pair.privateKey, { alg, kid: 'whatever-the-idp-says' }));
    expect(identity).toEqual({ sub: 'user-1', email: 'alice@example.com', groups: ['sre'], expiresAt: NOW_S + 300 });
  });

  it.each(Object.keys(signers) as (keyof typeof signers)[])('accepts %s from an X.509 certificate', async (alg) => {
    const name = certificates[alg];
    const verifier = createJwtVerifier(options({ staticKeys: fixture(`${name}.pem`) }));
    const key = await importPKCS8(fixture(`${name}-key.pem`), alg);
    await expect(verifier.verify(await sign(key, { alg }))).resolves.toMatchObject({ sub: 'user-1' });
  });

  it.each(Object.keys(signers) as (keyof typeof signers)[])('accepts %s from a JWKS file', async (alg) => {
    const verifier = createJwtVerifier(options({ staticKeys: JSON.stringify({ keys: [rsa.jwk, ec.jwk, ed.jwk] }) }));
    const pair = signers[alg]();
    await expect(verifier.verify(await sign(pair.privateKey, { alg, kid: pair.jwk.kid! }))).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('accepts a PEM file holding a certificate and a public key', async () => {
    const verifier = createJwtVerifier(options({ staticKeys: `${fixture('rsa-cert.pem')}\n${ec.pem}` }));
    await expect(verifier.verify(await sign(ec.privateKey, { alg: 'ES256' }))).resolves.toMatchObject({ sub: 'user-1' });
  });

  it('tries each key when a kid-less token fits several keys in a JWKS file', async () => {
    const { kid: _a, ...oldKey } = rsa.jwk;
    const { kid: _b, ...newKey } = rsaNew.jwk;
    const verifier = createJwtVerifier(options({ staticKeys: JSON.stringify({ keys: [oldKey, newKey] }) }));
    await expect(verifier.verify(await sign(rsaNew.privateKey))).resolves.toMatchObject({ sub: 'user-1' });
    await expect(verifier.verify(await sign(rsa.privateKey))).resolves.toMatchObject({ sub: 'user-1' });
    const error = await refusal(verifier.verify(await sign(attacker.privateKey)));
    expect(error.cause).toMatchObject({ code: 'ERR_JWS_SIGNATURE_VERIFICATION_FAILED' });
  });

  it('refuses a token whose alg does not match the JWK alg', async () => {
    const verifier = createJwtVerifier(options({ staticKeys: JSON.stringify({ keys: [{ ...rsa.jwk, alg: 'RS384' }] }), algorithms: ['RS256', 'RS384'] }));
    const error = await refusal(verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' })));
    expect(error.cause).toMatchObject({ code: 'ERR_JWKS_NO_MATCHING_KEY' });
  });
});

describe('identity claims', () => {
  const verify = async (claims: Record<string, unknown>, groupsClaim?: string) =>
    createJwtVerifier(options({ staticKeys: rsa.pem, ...(groupsClaim ? { groupsClaim } : {}) })).verify(
      await sign(rsa.privateKey, { claims, omit: ['groups'] }),
    );

  it.each<[string, Record<string, unknown>, string | undefined, string[]]>([
    ['an array of groups', { groups: ['sre', 'dev'] }, undefined, ['sre', 'dev']],
    ['a single group string', { groups: 'sre' }, undefined, ['sre']],
    ['no groups claim', {}, undefined, []],
    ['a groups claim of another type', { groups: { sre: true } }, undefined, []],
    ['non-string members, which are dropped', { groups: ['sre', 7, null, '', ['x']] }, undefined, ['sre']],
    ['a custom claim name', { roles: ['ops'] }, 'roles', ['ops']],
    ['a Keycloak nested path', { realm_access: { roles: ['ops', 'dev'] } }, 'realm_access.roles', ['ops', 'dev']],
    ['a nested path that is missing', { realm_access: {} }, 'realm_access.roles', []],
    ['a nested path through a non-object', { realm_access: 'ops' }, 'realm_access.roles', []],
    ['a nested path through an array', { realm_access: [{ roles: ['x'] }] }, 'realm_access.0.roles', []],
    ['a namespaced claim containing dots', { 'https://example.com/groups': ['eng'] }, 'https://example.com/groups', ['eng']],
    ['a path into the prototype', {}, '__proto__.constructor', []],
  ])('reads groups from %s', async (_name, claims, groupsClaim, groups) => {
    expect((await verify(claims, groupsClaim)).groups).toEqual(groups);
  });

  it.each<[string, Record<string, unknown>, string | undefined]>([
    ['a string email', { email: 'bob@example.com' }, 'bob@example.com'],
    ['a verified email', { email: 'bob@example.com', email_verified: true }, 'bob@example.com'],
    ['an email explicitly unverified, which is dropped', { email: 'ceo@example.com', email_verified: false }, undefined],
    ['a non-string email, which is dropped', { email: ['a@example.com'] }, undefined],
    ['an empty email, which is dropped', { email: '' }, undefined],
  ])('reads %s', async (_name, claims, email) => {
    const identity = await verify(claims);
    expect(identity.email).toBe(email);
    expect('email' in identity).toBe(email !== undefined);
  });
});

describe('remote keys', () => {
  let server: JwksServer;
  beforeAll(async () => {
    server = await startJwksServer({ keys: [rsa.jwk] });
  });
  afterAll(async () => {
    await server.close();
  });

  it('fetches the keys once and serves later tokens from the cache', async () => {
    server.setBehaviour('keys');
    server.setKeys({ keys: [rsa.jwk] });
    const before = server.requests;
    const verifier = createJwtVerifier(options({ jwksUrl: server.url }));
    await verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }));
    await verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1', claims: { sub: 'user-2' } }));
    expect(server.requests - before).toBe(1);
  });

  it('accepts a rotated key after refetching on its unknown kid', async () => {
    server.setBehaviour('keys');
    server.setKeys({ keys: [rsa.jwk] });
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, jwksCooldownMs: 0 }));
    await verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }));
    const before = server.requests;
    server.setKeys({ keys: [rsaNew.jwk] });
    await expect(verifier.verify(await sign(rsaNew.privateKey, { kid: 'rsa-2' }))).resolves.toMatchObject({ sub: 'user-1' });
    expect(server.requests - before).toBe(1);
    // The old key is gone from the IdP, so its tokens stop working after the refetch.
    await refusal(verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' })));
  });

  it('does not refetch for an unknown kid during the cooldown', async () => {
    server.setBehaviour('keys');
    server.setKeys({ keys: [rsa.jwk] });
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, jwksCooldownMs: 60_000 }));
    await verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }));
    const before = server.requests;
    for (let i = 0; i < 5; i++) await refusal(verifier.verify(await sign(attacker.privateKey, { kid: `random-${i}` })));
    expect(server.requests - before).toBe(0);
  });

  it('refetches when the cache has aged out', async () => {
    server.setBehaviour('keys');
    server.setKeys({ keys: [rsa.jwk] });
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, jwksCacheMaxAgeMs: 0 }));
    const before = server.requests;
    await verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }));
    await verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' }));
    expect(server.requests - before).toBe(2);
  });

  it('refuses tokens when the JWKS endpoint answers with an error', async () => {
    server.setBehaviour('error');
    const verifier = createJwtVerifier(options({ jwksUrl: server.url }));
    const error = await refusal(verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' })));
    expect(error.code).toBe('auth_invalid');
    server.setBehaviour('keys');
  });

  it('does not follow a redirect from the JWKS endpoint', async () => {
    server.setBehaviour({ redirectTo: evil.url });
    const verifier = createJwtVerifier(options({ jwksUrl: server.url }));
    await refusal(verifier.verify(await sign(attacker.privateKey, { kid: 'attacker-1' })));
    expect(evil.requests).toBe(0);
    server.setBehaviour('keys');
  });

  it('gives up on a JWKS endpoint that does not answer within the timeout', async () => {
    server.setBehaviour('hang');
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, jwksTimeoutMs: 200 }));
    const started = Date.now();
    const error = await refusal(verifier.verify(await sign(rsa.privateKey, { kid: 'rsa-1' })));
    expect(error.cause).toMatchObject({ code: 'ERR_JWKS_TIMEOUT' });
    expect(Date.now() - started).toBeLessThan(5_000);
    server.setBehaviour('keys');
  });

  it('reports keys ready once they can be fetched, and not while the endpoint fails', async () => {
    server.setBehaviour('error');
    const verifier = createJwtVerifier(options({ jwksUrl: server.url }));
    expect(verifier.keySource).toBe('jwks-url');
    await expect(verifier.keysReady()).resolves.toBe(false);
    server.setBehaviour('keys');
    await expect(verifier.keysReady()).resolves.toBe(true);
    const before = server.requests;
    await expect(verifier.keysReady()).resolves.toBe(true);
    expect(server.requests).toBe(before);
  });

  it.each<[string, () => JWK[]]>([
    ['is empty', () => []],
    ['holds only a key for another algorithm', () => [{ ...ec.jwk }]],
    ['holds only a private key', () => [generateKeyPairSync('rsa', { modulusLength: 2048 }).privateKey.export({ format: 'jwk' }) as JWK]],
    ['holds only a 1024-bit RSA key', () => [generateKeyPairSync('rsa', { modulusLength: 1024 }).publicKey.export({ format: 'jwk' }) as JWK]],
    ['holds only an encryption key', () => [{ ...rsa.jwk, use: 'enc' }]],
  ])('reports keys not ready while the fetched JWKS %s', async (_name, keys) => {
    server.setBehaviour('keys');
    server.setKeys({ keys: keys() });
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, algorithms: ['RS256'], jwksCooldownMs: 0 }));
    await expect(verifier.keysReady()).resolves.toBe(false);
    // Outside the cooldown (none here) a set without usable keys is fetched again.
    server.setKeys({ keys: [...keys(), rsa.jwk] });
    await expect(verifier.keysReady()).resolves.toBe(true);
  });

  it('refetches a set without usable keys at most once per cooldown', async () => {
    server.setBehaviour('keys');
    server.setKeys({ keys: [] });
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, jwksCooldownMs: 60_000 }));
    await expect(verifier.keysReady()).resolves.toBe(false);
    const before = server.requests;
    await expect(verifier.keysReady()).resolves.toBe(false);
    expect(server.requests).toBe(before);
    server.setKeys({ keys: [rsa.jwk] });
  });

  it('reports keys not ready when the endpoint hangs, within the timeout', async () => {
    server.setBehaviour('hang');
    const verifier = createJwtVerifier(options({ jwksUrl: server.url, jwksTimeoutMs: 200 }));
    await expect(verifier.keysReady()).resolves.toBe(false);
    server.setBehaviour('keys');
  });

  it('reports static keys as always ready', async () => {
    const verifier = createJwtVerifier(options({ staticKeys: rsa.pem }));
    expect(verifier.keySource).toBe('key-file');
    await expect(verifier.keysReady()).resolves.toBe(true);
  });
});
