// Which JWS algorithms the gateway verifies, and the check of an AUTH_ALGORITHMS list. One
// list for the configuration check and the verifier, so a name the configuration accepts
// never makes the verifier refuse to start.

/** Asymmetric JWS algorithms jose verifies on Node 20, with keys from the JWKS or key file. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

/** HMAC algorithms, verified only with AUTH_HMAC_SECRET_FILE's secret, never with a public key. */
export const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;

/** RFC 7518 §3.2: an HMAC key must be at least as long as the hash output. */
export const HMAC_MIN_SECRET_BYTES: Readonly<Record<(typeof HMAC_ALGORITHMS)[number], number>> = { HS256: 32, HS384: 48, HS512: 64 };

export function isHmacAlgorithm(alg: unknown): alg is (typeof HMAC_ALGORITHMS)[number] {
  return (HMAC_ALGORITHMS as readonly unknown[]).includes(alg);
}

export function isAsymmetricAlgorithm(alg: unknown): alg is (typeof ASYMMETRIC_ALGORITHMS)[number] {
  return (ASYMMETRIC_ALGORITHMS as readonly unknown[]).includes(alg);
}

/** The outcome of checking an algorithm list: the distinct accepted names, and every problem. */
export interface AlgorithmCheck {
  accepted: string[];
  problems: string[];
}

/**
 * Checks an AUTH_ALGORITHMS list. `none` is never accepted. HMAC is accepted only when
 * `hmacSecret` says a secret is configured (AUTH_HMAC_SECRET_FILE): otherwise a shared-secret
 * algorithm has no business here, and listing it by mistake is how the classic "HS256 keyed
 * with the public key" confusion starts. Anything else outside ASYMMETRIC_ALGORITHMS is
 * refused by name (names are case-sensitive, RFC 7518 §3.1).
 */
export function checkAlgorithms(algorithms: readonly unknown[] | undefined, options: { hmacSecret: boolean }): AlgorithmCheck {
  const accepted: string[] = [];
  const problems: string[] = [];
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    return { accepted, problems: ['must list at least one algorithm'] };
  }
  const known = options.hmacSecret ? [...ASYMMETRIC_ALGORITHMS, ...HMAC_ALGORITHMS] : ASYMMETRIC_ALGORITHMS;
  for (const alg of algorithms) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      problems.push('algorithm "none" is never accepted: it means an unsigned token');
    } else if (!options.hmacSecret && typeof alg === 'string' && /^hs/i.test(alg)) {
      problems.push(`algorithm ${alg} is HMAC, accepted only with a shared secret configured on purpose (AUTH_HMAC_SECRET_FILE)`);
    } else if (typeof alg !== 'string' || !(known as readonly string[]).includes(alg)) {
      problems.push(`algorithm ${JSON.stringify(alg)} is not supported; use ${known.join(', ')}`);
    } else if (!accepted.includes(alg)) {
      accepted.push(alg);
    }
  }
  return { accepted, problems };
}
