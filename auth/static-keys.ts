// Turns the contents of AUTH_PUBLIC_KEY_FILE (PEM public keys, X.509 certificates or a JWKS
// document) into public JWKs, refusing private and symmetric keys when the file is read.

import { createPublicKey, X509Certificate, type JsonWebKey as NodeJwk, type KeyObject } from 'node:crypto';
import type { JWK } from 'jose';

/** Public keys read from a file, and the form they came in. */
export interface StaticKeySet {
  /** `pem`: SPKI public keys and/or certificates (no `kid`); `jwks`: a JWKS document. */
  format: 'pem' | 'jwks';
  keys: JWK[];
}

const PEM_BLOCK = /-----BEGIN ([A-Z0-9 ]+)-----[\s\S]*?-----END \1-----/g;

/**
 * Parses the contents of a key file. Throws an Error naming the problem when the text is
 * neither PEM nor a JWKS, holds a private or symmetric key, or a key jose cannot verify with.
 * Certificates are only containers for their public key: validity dates and chains are not
 * checked, as with every IdP that publishes its signing key as a self-signed certificate.
 */
export function parseStaticKeys(text: string): StaticKeySet {
  const trimmed = text.trim();
  if (trimmed === '') throw new Error('the key file is empty');
  if (trimmed.startsWith('{')) return { format: 'jwks', keys: parseJwks(trimmed) };
  const blocks = [...trimmed.matchAll(PEM_BLOCK)];
  if (blocks.length === 0) throw new Error('the key file is neither PEM (public key or certificate) nor a JWKS JSON document');
  const keys = blocks.map((block, index) => {
    const [pem, label = ''] = block;
    const where = `PEM block ${index + 1} (${label})`;
    if (label.includes('PRIVATE KEY')) throw new Error(`${where} is a private key; the file must hold only the public key`);
    let key: KeyObject;
    try {
      if (label === 'CERTIFICATE') key = new X509Certificate(pem).publicKey;
      else if (label === 'PUBLIC KEY' || label === 'RSA PUBLIC KEY') key = createPublicKey({ key: pem, format: 'pem' });
      else throw new Error(`unsupported PEM type; expected PUBLIC KEY or CERTIFICATE`);
    } catch (cause) {
      throw new Error(`${where} cannot be read: ${(cause as Error).message}`, { cause });
    }
    return keyObjectToJwk(key, where);
  });
  return { format: 'pem', keys };
}

function keyObjectToJwk(key: KeyObject, where: string): JWK {
  const type = key.asymmetricKeyType;
  if (type !== 'rsa' && type !== 'ec' && type !== 'ed25519') {
    throw new Error(`${where} is a ${type ?? 'unknown'} key; supported are RSA, EC (P-256/384/521) and Ed25519`);
  }
  checkRsaSize(key, where);
  return key.export({ format: 'jwk' }) as JWK;
}

// jose refuses RSA keys under 2048 bits at verification time; say so when the file is read.
function checkRsaSize(key: KeyObject, where: string): void {
  const bits = key.asymmetricKeyDetails?.modulusLength;
  if (key.asymmetricKeyType === 'rsa' && bits !== undefined && bits < 2048) {
    throw new Error(`${where} is a ${bits}-bit RSA key; at least 2048 bits are required`);
  }
}

const PRIVATE_MEMBERS = ['d', 'p', 'q', 'dp', 'dq', 'qi', 'oth', 'k', 'priv'] as const;

function parseJwks(text: string): JWK[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (cause) {
    throw new Error(`the key file is not valid JSON: ${(cause as Error).message}`, { cause });
  }
  const keys = (doc as { keys?: unknown } | null)?.keys;
  if (!Array.isArray(keys) || keys.length === 0) throw new Error('the JWKS document must have a non-empty "keys" array');
  return keys.map((jwk: unknown, index) => {
    const where = `JWKS key ${index}`;
    if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) throw new Error(`${where} is not an object`);
    const { kty } = jwk as { kty?: unknown };
    if (kty === 'oct') throw new Error(`${where} is a symmetric (oct) key; HMAC is not supported`);
    if (kty !== 'RSA' && kty !== 'EC' && kty !== 'OKP') throw new Error(`${where} has unsupported kty ${JSON.stringify(kty)}`);
    const leaked = PRIVATE_MEMBERS.filter((member) => Object.hasOwn(jwk, member));
    if (leaked.length > 0) throw new Error(`${where} holds private key material (${leaked.join(', ')}); publish only public keys`);
    try {
      checkRsaSize(createPublicKey({ key: jwk as NodeJwk, format: 'jwk' }), where);
    } catch (cause) {
      if ((cause as Error).message.startsWith(where)) throw cause;
      throw new Error(`${where} cannot be imported: ${(cause as Error).message}`, { cause });
    }
    return jwk as JWK;
  });
}

/**
 * Whether a member of a fetched JWKS can verify tokens of any of `algorithms`: a public key
 * (no private members) that fits one of them and imports (an RSA key of at least 2048 bits).
 * Never throws: anything odd is simply not usable.
 */
export function isUsableKey(jwk: unknown, algorithms: readonly string[]): boolean {
  if (typeof jwk !== 'object' || jwk === null || Array.isArray(jwk)) return false;
  if (PRIVATE_MEMBERS.some((member) => Object.hasOwn(jwk, member))) return false;
  if (!algorithms.some((alg) => keyFitsAlgorithm(jwk as JWK, alg))) return false;
  try {
    const key = createPublicKey({ key: jwk as NodeJwk, format: 'jwk' });
    const bits = key.asymmetricKeyDetails?.modulusLength;
    return key.asymmetricKeyType !== 'rsa' || (bits !== undefined && bits >= 2048);
  } catch {
    return false;
  }
}

/** Whether `jwk` can verify a JWS signed with `alg` (key type, curve, and its own alg/use). */
export function keyFitsAlgorithm(jwk: JWK, alg: string): boolean {
  if (jwk.alg !== undefined && jwk.alg !== alg) return false;
  if (jwk.use !== undefined && jwk.use !== 'sig') return false;
  if (Array.isArray(jwk.key_ops) && !jwk.key_ops.includes('verify')) return false;
  if (/^(RS|PS)(256|384|512)$/.test(alg)) return jwk.kty === 'RSA';
  const curve = { ES256: 'P-256', ES384: 'P-384', ES512: 'P-521', EdDSA: 'Ed25519', Ed25519: 'Ed25519' }[alg];
  return curve !== undefined && jwk.crv === curve && (jwk.kty === 'EC' || jwk.kty === 'OKP');
}
