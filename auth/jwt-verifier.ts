// Verifies the company's JWTs against keys from a JWKS URL or a key file (and, only when one
// is configured on purpose, an HMAC secret) and turns the claims into an Identity. Keys always
// come from configuration, never from the token.

import { Buffer } from 'node:buffer';
import {
  createLocalJWKSet,
  createRemoteJWKSet,
  errors,
  jwtVerify,
  type JWTPayload,
  type JWTVerifyGetKey,
  type JWTVerifyOptions,
  type RemoteJWKSet,
} from 'jose';
import { GatewayError } from '../gateway/errors.js';
import { checkAlgorithms, HMAC_ALGORITHMS, isAsymmetricAlgorithm, isHmacAlgorithm } from './algorithms.js';
import { hmacSecretProblems } from './hmac-secret.js';
import type { Identity } from './identity.js';
import { checkJwksUrl } from './jwks-url.js';
import { isUsableKey, keyFitsAlgorithm, parseStaticKeys } from './static-keys.js';

export interface JwtVerifierOptions {
  /**
   * AUTH_JWKS_URL: the IdP's JWKS endpoint (https; http only to a loopback host). Exactly one
   * of this and `staticKeys` whenever an asymmetric algorithm is listed; neither otherwise.
   */
  jwksUrl?: string;
  /** Contents of AUTH_PUBLIC_KEY_FILE: PEM public key(s) (SPKI), X.509 certificate(s), or a JWKS document. */
  staticKeys?: string;
  /**
   * AUTH_HMAC_SECRET_FILE's secret (see auth/hmac-secret.ts). Required for, and only allowed
   * with, HS256/HS384/HS512 in `algorithms`; HS tokens are verified against it alone.
   */
  hmacSecret?: Uint8Array;
  /** Required `iss`. */
  issuer: string;
  /** Required `aud` (one of the token's audiences). */
  audience: string;
  /** Accepted `alg`s; see auth/algorithms.ts (HMAC only with `hmacSecret`). */
  algorithms: readonly string[];
  /** Claim holding the groups; a dotted path such as `realm_access.roles` walks nested objects. Default `groups`. */
  groupsClaim?: string;
  /** Leeway for `exp`/`nbf`/`iat`, 0–300. Default 30. */
  clockToleranceSeconds?: number;
  /** Tokens longer than this are refused before parsing. Default 8192. */
  maxTokenBytes?: number;
  /** Keys older than this are refetched. Default 600 000 (10 min). */
  jwksCacheMaxAgeMs?: number;
  /** After a fetch, an unknown `kid` triggers another fetch only after this long. Default 30 000. */
  jwksCooldownMs?: number;
  /** Timeout of one JWKS fetch. Default 5000. */
  jwksTimeoutMs?: number;
  /** Clock in ms since the epoch; default `Date.now`. */
  now?: () => number;
}

/** Checks a JWT and reports whether its keys are available. */
export interface JwtVerifier {
  /**
   * Verifies `token` and returns who it belongs to. Throws GatewayError `auth_required` for an
   * empty token and `auth_invalid` (with the reason as `cause`) for anything else wrong.
   */
  verify(token: string): Promise<Identity>;
  /**
   * For /readyz: true when fresh keys are loaded and at least one of them can verify an
   * allowed algorithm. With a JWKS URL and no fresh keys, or none usable, it fetches them
   * (bounded by `jwksTimeoutMs`; a set without usable keys is refetched at most once per
   * cooldown) and answers whether that produced a usable key.
   */
  keysReady(): Promise<boolean>;
  /** Where the asymmetric keys come from (`hmac-secret` when HMAC is all there is), for the startup log. */
  readonly keySource: 'jwks-url' | 'key-file' | 'hmac-secret';
}

const DEFAULT_TOLERANCE_SECONDS = 30;
const MAX_TOLERANCE_SECONDS = 300;

/** Creates a verifier; throws an Error listing every problem with `options`. */
export function createJwtVerifier(options: JwtVerifierOptions): JwtVerifier {
  const problems: string[] = [];
  const {
    jwksUrl,
    staticKeys,
    issuer,
    audience,
    groupsClaim = 'groups',
    clockToleranceSeconds = DEFAULT_TOLERANCE_SECONDS,
    maxTokenBytes = 8192,
    now = Date.now,
  } = options;
  const hmacSecret = options.hmacSecret;
  const algorithmCheck = checkAlgorithms(options.algorithms, { hmacSecret: hmacSecret !== undefined });
  const algorithms = algorithmCheck.accepted;
  // Public keys are needed unless the list is HMAC alone (an empty or broken list still asks for them).
  const hmacOnly = algorithms.length > 0 && algorithms.every(isHmacAlgorithm);
  const asymmetricAlgorithms = algorithms.filter(isAsymmetricAlgorithm);

  if (!hmacOnly && (jwksUrl === undefined) === (staticKeys === undefined)) {
    problems.push('exactly one of jwksUrl (AUTH_JWKS_URL) and staticKeys (AUTH_PUBLIC_KEY_FILE) is required');
  }
  if (hmacOnly && (jwksUrl !== undefined || staticKeys !== undefined)) {
    problems.push('jwksUrl (AUTH_JWKS_URL) or staticKeys (AUTH_PUBLIC_KEY_FILE) is set but algorithms lists no asymmetric algorithm to use its keys with');
  }
  if (typeof issuer !== 'string' || issuer === '') problems.push('issuer (AUTH_ISSUER) is required');
  if (typeof audience !== 'string' || audience === '') problems.push('audience (AUTH_AUDIENCE) is required');
  if (typeof groupsClaim !== 'string' || groupsClaim === '' || groupsClaim.split('.').includes('')) {
    problems.push(`groupsClaim ${JSON.stringify(groupsClaim)} is not a claim name or dotted path`);
  }
  // Capped rather than clamped: a tolerance of hours would quietly keep expired tokens alive.
  if (!Number.isFinite(clockToleranceSeconds) || clockToleranceSeconds < 0 || clockToleranceSeconds > MAX_TOLERANCE_SECONDS) {
    problems.push(`clockToleranceSeconds must be between 0 and ${MAX_TOLERANCE_SECONDS}`);
  }
  if (!Number.isInteger(maxTokenBytes) || maxTokenBytes <= 0) problems.push('maxTokenBytes must be a positive integer');
  for (const problem of algorithmCheck.problems) {
    problems.push(problem.startsWith('algorithm ') ? problem : `algorithms (AUTH_ALGORITHMS) ${problem}`);
  }
  if (hmacSecret !== undefined) {
    if (!(hmacSecret instanceof Uint8Array)) problems.push('hmacSecret (AUTH_HMAC_SECRET_FILE) must be bytes');
    else for (const problem of hmacSecretProblems(hmacSecret, algorithms)) problems.push(`hmacSecret (AUTH_HMAC_SECRET_FILE) ${problem}`);
    if (!algorithms.some(isHmacAlgorithm)) {
      problems.push(`hmacSecret (AUTH_HMAC_SECRET_FILE) is set but algorithms lists no ${HMAC_ALGORITHMS.slice(0, -1).join(', ')} or ${HMAC_ALGORITHMS.at(-1)}`);
    }
  }

  let resolveKey: JWTVerifyGetKey | undefined;
  let remote: RemoteJWKSet | undefined;
  if (hmacOnly) {
    resolveKey = () => {
      throw new errors.JOSEAlgNotAllowed('no public keys are configured');
    };
  } else if (jwksUrl !== undefined && staticKeys === undefined) {
    const url = checkJwksUrlOption(jwksUrl, problems);
    const timeoutDuration = checkDuration('jwksTimeoutMs', options.jwksTimeoutMs, problems, true);
    const cooldownDuration = checkDuration('jwksCooldownMs', options.jwksCooldownMs, problems);
    const cacheMaxAge = checkDuration('jwksCacheMaxAgeMs', options.jwksCacheMaxAgeMs, problems);
    if (url !== undefined && problems.length === 0) {
      // jose's resolver selects by `alg` and `kid`, refetches on an unknown kid outside the
      // cooldown, and fetches with `redirect: 'manual'`, so a redirect is a failure.
      remote = createRemoteJWKSet(url, { timeoutDuration, cooldownDuration, cacheMaxAge });
      resolveKey = remote;
    }
  } else if (staticKeys !== undefined && jwksUrl === undefined) {
    try {
      const { format, keys } = parseStaticKeys(staticKeys);
      if (!keys.some((jwk) => asymmetricAlgorithms.some((alg) => keyFitsAlgorithm(jwk, alg)))) {
        problems.push(`no key in the key file can verify any of the algorithms ${asymmetricAlgorithms.join(', ') || '(none)'}`);
      }
      const local = createLocalJWKSet({ keys });
      // A PEM key has no `kid`, while IdP tokens usually carry one: select PEM keys by `alg`
      // only. Keys from a JWKS document keep jose's usual kid matching.
      resolveKey = format === 'pem' ? (header) => local({ alg: header.alg }) : local;
    } catch (cause) {
      problems.push(`staticKeys (AUTH_PUBLIC_KEY_FILE): ${(cause as Error).message}`);
    }
  }

  if (problems.length > 0 || resolveKey === undefined) {
    throw new Error(`Invalid JWT verifier options:\n  - ${problems.join('\n  - ')}`);
  }
  const publicKeys = resolveKey;
  const secret = hmacSecret === undefined ? undefined : new Uint8Array(hmacSecret);
  // jwtVerify refuses an alg outside `algorithms` before asking for a key, so an HS header only
  // gets here when HMAC is configured. It then gets the secret and nothing else: never a JWKS
  // member or a PEM key (jose would not use them for HMAC either, but nothing relies on that).
  // Asymmetric headers never see the secret.
  const getKey: JWTVerifyGetKey = (header, token) => {
    if (isHmacAlgorithm(header.alg)) {
      if (secret === undefined) throw new errors.JOSEAlgNotAllowed('HMAC is not configured');
      return secret;
    }
    return publicKeys(header, token);
  };
  const groupsPath = groupsClaim.split('.');

  async function verifySignatureAndClaims(token: string): Promise<JWTPayload> {
    const verifyOptions: JWTVerifyOptions = {
      algorithms,
      issuer,
      audience,
      requiredClaims: ['exp'],
      clockTolerance: clockToleranceSeconds,
      currentDate: new Date(now()),
    };
    try {
      return (await jwtVerify(token, getKey, verifyOptions)).payload;
    } catch (err) {
      // Several keys fit a token without `kid` (two keys mid-rotation in one JWKS): jose hands
      // over the candidates and leaves trying them to us. Claim errors still end the search.
      if (!(err instanceof errors.JWKSMultipleMatchingKeys)) throw err;
      for await (const candidate of err) {
        try {
          return (await jwtVerify(token, candidate, verifyOptions)).payload;
        } catch (inner) {
          if (!(inner instanceof errors.JWSSignatureVerificationFailed)) throw inner;
        }
      }
      throw new errors.JWSSignatureVerificationFailed('no candidate key verified the signature', { cause: err });
    }
  }

  return {
    keySource: hmacOnly ? 'hmac-secret' : remote === undefined ? 'key-file' : 'jwks-url',

    async verify(token: string): Promise<Identity> {
      if (typeof token !== 'string' || token.trim() === '') throw new GatewayError('auth_required');
      // Before any base64 or JSON work: a huge header is cheap to send and costly to parse.
      if (token.length > maxTokenBytes || Buffer.byteLength(token, 'utf8') > maxTokenBytes) {
        throw new GatewayError('auth_invalid', { cause: new Error(`token longer than ${maxTokenBytes} bytes`) });
      }
      if (!isCanonicalCompactJws(token)) {
        throw new GatewayError('auth_invalid', { cause: new errors.JWSInvalid('not a compact JWS in canonical base64url') });
      }
      let payload: JWTPayload;
      try {
        payload = await verifySignatureAndClaims(token);
      } catch (cause) {
        throw new GatewayError('auth_invalid', { cause });
      }
      return toIdentity(payload, groupsClaim, groupsPath);
    },

    async keysReady(): Promise<boolean> {
      if (remote === undefined) return true;
      // A fetch that succeeds with `{"keys":[]}`, or only keys for other algorithms, leaves
      // every token refused just as surely as a failed fetch: not ready either way.
      const usable = (): boolean => (remote.jwks()?.keys ?? []).some((jwk) => isUsableKey(jwk, asymmetricAlgorithms));
      if (remote.fresh && (usable() || remote.coolingDown)) return usable();
      try {
        await remote.reload();
      } catch {
        return false;
      }
      return usable();
    },
  };
}

// RFC 7515 §7.1: three segments of unpadded base64url. jose decodes the signature leniently
// (whitespace, '+', '/', '=' and stray low bits are ignored), so one signed token would have
// many spellings that all verify; only the canonical one is accepted. An empty signature is
// left for jose to refuse by its algorithm, which names the reason better.
const COMPACT_JWS = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

function isCanonicalCompactJws(token: string): boolean {
  if (!COMPACT_JWS.test(token)) return false;
  const signature = token.slice(token.lastIndexOf('.') + 1);
  return Buffer.from(signature, 'base64url').toString('base64url') === signature;
}

function checkJwksUrlOption(value: string, problems: string[]): URL | undefined {
  const { url, problem } = checkJwksUrl(value);
  if (problem !== undefined) problems.push(`jwksUrl (AUTH_JWKS_URL) ${problem}`);
  return url;
}

function checkDuration(name: string, value: number | undefined, problems: string[], integer = false): number | undefined {
  if (value === undefined) return undefined;
  const valid = integer ? Number.isInteger(value) : Number.isFinite(value) || value === Infinity;
  if (!valid || value < 0) {
    problems.push(`${name} must be a non-negative ${integer ? 'integer' : 'number'}`);
    return undefined;
  }
  return value;
}

function toIdentity(payload: JWTPayload, groupsClaim: string, groupsPath: readonly string[]): Identity {
  const { sub, exp } = payload;
  if (typeof sub !== 'string' || sub === '') {
    throw new GatewayError('auth_invalid', { cause: new Error('the token has no "sub" string') });
  }
  // requiredClaims guarantees `exp`; jose has checked it is a number in the future.
  const identity: Identity = { sub, groups: readGroups(payload, groupsClaim, groupsPath), expiresAt: exp as number };
  // An IdP that says the address is unverified lets users type any address: never let such
  // an email match a policy's `users` or `emailDomains`.
  if (typeof payload['email'] === 'string' && payload['email'] !== '' && payload['email_verified'] !== false) {
    identity.email = payload['email'];
  }
  return identity;
}

function readGroups(payload: JWTPayload, claim: string, path: readonly string[]): string[] {
  // A claim whose name itself contains dots (Auth0's `https://example.com/groups`) is read
  // as-is; otherwise the name is a path into nested objects (Keycloak's `realm_access.roles`).
  let value: unknown = Object.hasOwn(payload, claim) ? payload[claim] : walk(payload, path);
  if (typeof value === 'string') value = [value];
  if (!Array.isArray(value)) return [];
  // Groups only ever grant access, so ignoring odd members cannot widen it.
  return value.filter((group): group is string => typeof group === 'string' && group !== '');
}

function walk(value: unknown, path: readonly string[]): unknown {
  let current = value;
  for (const segment of path) {
    if (typeof current !== 'object' || current === null || Array.isArray(current) || !Object.hasOwn(current, segment)) {
      return undefined;
    }
    current = (current as Record<string, unknown>)[segment];
  }
  return current;
}
