// An RS256 identity provider for gateway-level auth tests: key pairs with kids, a real JWKS
// server, and a signer that can produce every hostile token shape (bad alg, headers, claims).

import { base64url, exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK } from 'jose';
import { startJwksServer, type JwksServer } from '../unit/auth/jwks-server.js';

export type SigningKey = Awaited<ReturnType<typeof generateKeyPair>>['privateKey'];

export interface KeyPair {
  kid: string;
  privateKey: SigningKey;
  /** SPKI PEM of the public key. */
  pem: string;
  /** Public JWK with `kid`, `alg`, `use`. */
  jwk: JWK;
}

export const TEST_ISSUER = 'https://idp.auth-tests.invalid/';
export const TEST_AUDIENCE = 'vnc-gateway-auth-tests';

export async function makeKeyPair(kid: string, alg = 'RS256'): Promise<KeyPair> {
  const { privateKey, publicKey } = await generateKeyPair(alg, { extractable: true });
  return { kid, privateKey, pem: await exportSPKI(publicKey), jwk: { ...(await exportJWK(publicKey)), kid, alg, use: 'sig' } };
}

export interface SignOptions {
  alg?: string;
  /** `null`: no kid header. Default: the key's kid. */
  kid?: string | null;
  header?: Record<string, unknown>;
  claims?: Record<string, unknown>;
  omit?: string[];
  crit?: Record<string, boolean>;
}

/** Default claims: issuer, audience, sub sam in group sre, valid for 5 minutes from now. */
export function claimsFor(sub = 'sam'): Record<string, unknown> {
  const now = Math.floor(Date.now() / 1000);
  return { iss: TEST_ISSUER, aud: TEST_AUDIENCE, sub, email: `${sub}@example.com`, groups: ['sre'], iat: now, exp: now + 300 };
}

/** Signs a token with `key` (a key pair, or raw HMAC bytes with `kid` in options). */
export async function signToken(key: KeyPair | Uint8Array, options: SignOptions = {}): Promise<string> {
  const claims = claimsFor();
  for (const name of options.omit ?? []) delete claims[name];
  Object.assign(claims, options.claims);
  const kid = options.kid === undefined ? (key instanceof Uint8Array ? undefined : key.kid) : (options.kid ?? undefined);
  const header = { alg: options.alg ?? 'RS256', ...(kid === undefined ? {} : { kid }), ...options.header };
  const signingKey = key instanceof Uint8Array ? key : key.privateKey;
  return new SignJWT(claims).setProtectedHeader(header).sign(signingKey, options.crit ? { crit: options.crit } : undefined);
}

/** A token with no signature at all (`alg: none` and friends). */
export function unsignedToken(header: Record<string, unknown>, claims: Record<string, unknown> = claimsFor()): string {
  const part = (value: unknown): string => base64url.encode(JSON.stringify(value));
  return `${part(header)}.${part(claims)}.`;
}

/** Starts a JWKS server publishing `pairs`. */
export function startIdpJwks(...pairs: KeyPair[]): Promise<JwksServer> {
  return startJwksServer({ keys: pairs.map((pair) => pair.jwk) });
}

/** Harness env for a gateway that trusts the JWKS at `jwksUrl` (RS256/ES256, test issuer and audience). */
export function jwksEnv(jwksUrl: string, extra: Record<string, string> = {}): Record<string, string> {
  return {
    AUTH_JWKS_URL: jwksUrl,
    // The harness sets a key file; an empty value unsets it (exactly one key source).
    AUTH_PUBLIC_KEY_FILE: '',
    AUTH_ISSUER: TEST_ISSUER,
    AUTH_AUDIENCE: TEST_AUDIENCE,
    AUTH_ALGORITHMS: 'RS256,ES256',
    ...extra,
  };
}
