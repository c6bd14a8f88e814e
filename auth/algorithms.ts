// Which JWS algorithms the gateway verifies, and the check of an AUTH_ALGORITHMS list. One
// list for the configuration check and the verifier, so a name the configuration accepts
// never makes the verifier refuse to start.

/** Asymmetric JWS algorithms jose verifies on Node 20, with keys from the JWKS or key file. */
export const ASYMMETRIC_ALGORITHMS = [
  'RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512', 'ES256', 'ES384', 'ES512', 'EdDSA', 'Ed25519',
] as const;

/** The outcome of checking an algorithm list: the distinct accepted names, and every problem. */
export interface AlgorithmCheck {
  accepted: string[];
  problems: string[];
}

/**
 * Checks an AUTH_ALGORITHMS list. `none` is never accepted, HMAC is refused, and anything
 * outside ASYMMETRIC_ALGORITHMS is refused by name (names are case-sensitive, RFC 7518 §3.1).
 */
export function checkAlgorithms(algorithms: readonly unknown[] | undefined): AlgorithmCheck {
  const accepted: string[] = [];
  const problems: string[] = [];
  if (!Array.isArray(algorithms) || algorithms.length === 0) {
    return { accepted, problems: ['must list at least one algorithm'] };
  }
  for (const alg of algorithms) {
    if (typeof alg === 'string' && alg.toLowerCase() === 'none') {
      problems.push('algorithm "none" is never accepted: it means an unsigned token');
    } else if (typeof alg === 'string' && /^hs/i.test(alg)) {
      problems.push(`algorithm ${alg} is HMAC, which is not supported (the key would be a shared secret)`);
    } else if (typeof alg !== 'string' || !(ASYMMETRIC_ALGORITHMS as readonly string[]).includes(alg)) {
      problems.push(`algorithm ${JSON.stringify(alg)} is not supported; use ${ASYMMETRIC_ALGORITHMS.join(', ')}`);
    } else if (!accepted.includes(alg)) {
      accepted.push(alg);
    }
  }
  return { accepted, problems };
}
