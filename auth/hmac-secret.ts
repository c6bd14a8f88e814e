// Reads the shared secret for HMAC-signed tokens (AUTH_HMAC_SECRET_FILE) and refuses one that
// is too short for the listed algorithms or is really a key, so HMAC is only ever verified
// with a secret someone configured on purpose.

import { Buffer } from 'node:buffer';
import { HMAC_MIN_SECRET_BYTES, isHmacAlgorithm } from './algorithms.js';

/**
 * The secret in a file's bytes: all of them, less one trailing newline (`echo` and editors add
 * one; the IdP signs without it). Returns a copy, so the caller may wipe the file buffer.
 */
export function secretFromFile(contents: Uint8Array): Uint8Array {
  let end = contents.length;
  if (end > 0 && contents[end - 1] === 0x0a) end--;
  if (end > 0 && contents[end - 1] === 0x0d) end--;
  return new Uint8Array(contents.subarray(0, end));
}

/**
 * Problems with `secret` for verifying `algorithms` (an empty list when it is fine): shorter
 * than RFC 7518 §3.2 allows for the longest listed hash (32 bytes at least), or text that is a
 * PEM block or a JWK. A public key used as the HMAC secret is exactly the confusion attack:
 * anyone holding the published key could then sign tokens.
 */
export function hmacSecretProblems(secret: Uint8Array, algorithms: readonly string[]): string[] {
  const problems: string[] = [];
  const needs = Math.max(32, ...algorithms.filter(isHmacAlgorithm).map((alg) => HMAC_MIN_SECRET_BYTES[alg]));
  if (secret.length < needs) {
    const which = algorithms.filter(isHmacAlgorithm).find((alg) => HMAC_MIN_SECRET_BYTES[alg] === needs);
    problems.push(`must hold at least ${needs} bytes${which !== undefined && needs > 32 ? ` for ${which}` : ''} (it holds ${secret.length})`);
  }
  const text = Buffer.from(secret.buffer, secret.byteOffset, secret.byteLength).toString('latin1').trim();
  if (/-----BEGIN [A-Z0-9 ]+-----/.test(text) || looksLikeJwk(text)) {
    problems.push('looks like a key, not a secret: HMAC keyed with a public key lets anyone who has that key sign tokens');
  }
  return problems;
}

function looksLikeJwk(text: string): boolean {
  if (!text.startsWith('{')) return false;
  try {
    const parsed: unknown = JSON.parse(text);
    return typeof parsed === 'object' && parsed !== null && ('kty' in parsed || 'keys' in parsed);
  } catch {
    return false;
  }
}
