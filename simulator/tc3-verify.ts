// Server-side TC3-HMAC-SHA256 verification, written independently of gateway/tencent/sign.ts so a signer bug is not mirrored.

import { createHash, createHmac, timingSafeEqual } from 'node:crypto';
import type { IncomingHttpHeaders } from 'node:http';

/** The parts of `Authorization: TC3-HMAC-SHA256 Credential=…, SignedHeaders=…, Signature=…`. */
export interface Tc3Authorization {
  secretId: string;
  /** `YYYY-MM-DD` from the credential scope. */
  date: string;
  /** Credential-scope service, i.e. the product (`lighthouse`, `cvm`). */
  service: string;
  /** Lowercase header names, in the order given (verified to be sorted and unique). */
  signedHeaders: string[];
  /** 64 lowercase hex digits. */
  signature: string;
}

/** Result of parsing: the parts, or why the header is malformed. */
export type Tc3ParseResult = { ok: true; value: Tc3Authorization } | { ok: false; reason: string };

const ALGORITHM = 'TC3-HMAC-SHA256';

/**
 * Parses an Authorization header strictly: Tencent refuses anything else with
 * `AuthFailure.InvalidAuthorization`, and a lenient parser here would let gateway bugs through.
 */
export function parseTc3Authorization(header: string | undefined): Tc3ParseResult {
  if (header === undefined || header === '') return { ok: false, reason: 'the Authorization header is missing' };
  if (!header.startsWith(`${ALGORITHM} `)) {
    return { ok: false, reason: `the Authorization header must start with "${ALGORITHM} "` };
  }
  const fields = new Map<string, string>();
  for (const part of header.slice(ALGORITHM.length + 1).split(',')) {
    const trimmed = part.trim();
    const eq = trimmed.indexOf('=');
    if (eq <= 0) return { ok: false, reason: `malformed Authorization field "${trimmed}"` };
    const name = trimmed.slice(0, eq);
    if (fields.has(name)) return { ok: false, reason: `duplicate Authorization field ${name}` };
    fields.set(name, trimmed.slice(eq + 1));
  }
  const credential = fields.get('Credential');
  const signedHeaders = fields.get('SignedHeaders');
  const signature = fields.get('Signature');
  if (credential === undefined || signedHeaders === undefined || signature === undefined || fields.size !== 3) {
    return { ok: false, reason: 'Authorization must hold exactly Credential, SignedHeaders and Signature' };
  }
  const scope = credential.split('/');
  const [secretId, date, service, terminator] = scope;
  if (scope.length !== 4 || secretId === undefined || secretId === '' || terminator !== 'tc3_request') {
    return { ok: false, reason: 'Credential must be SecretId/YYYY-MM-DD/service/tc3_request' };
  }
  if (date === undefined || !/^\d{4}-\d{2}-\d{2}$/.test(date)) {
    return { ok: false, reason: 'the credential scope date must be YYYY-MM-DD' };
  }
  if (service === undefined || !/^[a-z][a-z0-9-]*$/.test(service)) {
    return { ok: false, reason: 'the credential scope service is malformed' };
  }
  const names = signedHeaders.split(';');
  for (const [i, name] of names.entries()) {
    if (!/^[a-z0-9-]+$/.test(name)) return { ok: false, reason: `SignedHeaders entry "${name}" is not a lowercase header name` };
    const previous = names[i - 1];
    // The canonical form lists signed headers in ascending order; anything else cannot verify.
    if (previous !== undefined && previous >= name) {
      return { ok: false, reason: 'SignedHeaders must be sorted ascending without duplicates' };
    }
  }
  if (!/^[0-9a-f]{64}$/.test(signature)) {
    return { ok: false, reason: 'Signature must be 64 lowercase hex digits' };
  }
  return { ok: true, value: { secretId, date, service, signedHeaders: names, signature } };
}

/** What the canonical request is rebuilt from: exactly what arrived on the wire. */
export interface Tc3RequestParts {
  method: string;
  path: string;
  /** The raw query string without `?` (empty for Tencent's POST requests). */
  query: string;
  headers: IncomingHttpHeaders;
  body: Buffer;
}

const sha256Hex = (data: Buffer | string): string => createHash('sha256').update(data).digest('hex');
const hmacSha256 = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

function headerValue(headers: IncomingHttpHeaders, name: string): string | undefined {
  const value = headers[name];
  if (value === undefined) return undefined;
  return Array.isArray(value) ? value.join(',') : value;
}

/**
 * Rebuilds the canonical request from the received headers and body bytes.
 * content-type and host are used as received (trimmed); other signed header values are lowercased,
 * which is what Tencent's published example (`x-tc-action:describeinstances`) shows.
 * Returns undefined when a signed header is absent from the request.
 */
export function canonicalRequest(parts: Tc3RequestParts, signedHeaders: readonly string[]): string | undefined {
  let canonicalHeaders = '';
  for (const name of signedHeaders) {
    const raw = headerValue(parts.headers, name);
    if (raw === undefined) return undefined;
    const value = name === 'content-type' || name === 'host' ? raw.trim() : raw.trim().toLowerCase();
    canonicalHeaders += `${name}:${value}\n`;
  }
  return [
    parts.method.toUpperCase(),
    parts.path,
    parts.query,
    canonicalHeaders,
    signedHeaders.join(';'),
    sha256Hex(parts.body),
  ].join('\n');
}

/** Computes the hex signature Tencent expects for a canonical request. */
export function expectedTc3Signature(
  secretKey: string,
  auth: Pick<Tc3Authorization, 'date' | 'service'>,
  timestamp: string,
  canonical: string,
): string {
  const stringToSign = [ALGORITHM, timestamp, `${auth.date}/${auth.service}/tc3_request`, sha256Hex(canonical)].join('\n');
  const kDate = hmacSha256(`TC3${secretKey}`, auth.date);
  const kService = hmacSha256(kDate, auth.service);
  const kSigning = hmacSha256(kService, 'tc3_request');
  return createHmac('sha256', kSigning).update(stringToSign, 'utf8').digest('hex');
}

/** Constant-time comparison of two hex signatures. */
export function signaturesEqual(expected: string, given: string): boolean {
  const a = Buffer.from(expected, 'utf8');
  const b = Buffer.from(given, 'utf8');
  return a.length === b.length && timingSafeEqual(a, b);
}
