// TC3-HMAC-SHA256 request signing for Tencent Cloud API 3.0. Pure: the time is passed in.
// https://www.tencentcloud.com/document/api/213/33224 ("Signature v3").

import { createHash, createHmac } from 'node:crypto';

export interface Tc3SignInput {
  secretId: string;
  secretKey: string;
  /** Credential-scope service: the product (`lighthouse`, `cvm`), whatever host is dialled. */
  service: string;
  /** The exact Host header sent. */
  host: string;
  /** The exact Content-Type header sent. */
  contentType: string;
  /** The exact body bytes sent. */
  payload: string;
  /** Seconds since the epoch; also sent as X-TC-Timestamp. */
  timestamp: number;
  /** Extra headers to sign besides content-type and host (e.g. `{ 'X-TC-Action': '…' }`). */
  extraSignedHeaders?: Readonly<Record<string, string>>;
  method?: string;
  path?: string;
  query?: string;
}

export interface Tc3Signature {
  hashedPayload: string;
  canonicalRequest: string;
  hashedCanonicalRequest: string;
  credentialScope: string;
  stringToSign: string;
  signedHeaders: string;
  signature: string;
  authorization: string;
}

export const TC3_ALGORITHM = 'TC3-HMAC-SHA256';

const sha256Hex = (data: string): string => createHash('sha256').update(data, 'utf8').digest('hex');
const hmac = (key: Buffer | string, data: string): Buffer => createHmac('sha256', key).update(data, 'utf8').digest();

/** The UTC calendar date of a timestamp, `YYYY-MM-DD`, as the credential scope wants it. */
export function tc3Date(timestamp: number): string {
  return new Date(timestamp * 1000).toISOString().slice(0, 10);
}

/** Derives the signing key: HMAC chain over date, service and `tc3_request`. */
export function deriveTc3SigningKey(secretKey: string, date: string, service: string): Buffer {
  const secretDate = hmac(`TC3${secretKey}`, date);
  const secretService = hmac(secretDate, service);
  return hmac(secretService, 'tc3_request');
}

/** Signs one request and returns every intermediate value (the tests compare all of them). */
export function signTc3(input: Tc3SignInput): Tc3Signature {
  const method = (input.method ?? 'POST').toUpperCase();
  const headers = new Map<string, string>();
  headers.set('content-type', input.contentType.trim());
  headers.set('host', input.host.trim());
  for (const [name, value] of Object.entries(input.extraSignedHeaders ?? {})) {
    // Tencent lowercases both names and values of signed headers in the canonical form.
    headers.set(name.toLowerCase(), value.trim().toLowerCase());
  }
  const names = [...headers.keys()].sort();
  const canonicalHeaders = names.map((name) => `${name}:${headers.get(name)}\n`).join('');
  const signedHeaders = names.join(';');
  const hashedPayload = sha256Hex(input.payload);
  const canonicalRequest = [
    method,
    input.path ?? '/',
    input.query ?? '',
    canonicalHeaders,
    signedHeaders,
    hashedPayload,
  ].join('\n');
  const hashedCanonicalRequest = sha256Hex(canonicalRequest);
  const date = tc3Date(input.timestamp);
  const credentialScope = `${date}/${input.service}/tc3_request`;
  const stringToSign = [TC3_ALGORITHM, String(input.timestamp), credentialScope, hashedCanonicalRequest].join('\n');
  const signature = createHmac('sha256', deriveTc3SigningKey(input.secretKey, date, input.service))
    .update(stringToSign, 'utf8')
    .digest('hex');
  const authorization =
    `${TC3_ALGORITHM} Credential=${input.secretId}/${credentialScope}, ` +
    `SignedHeaders=${signedHeaders}, Signature=${signature}`;
  return {
    hashedPayload,
    canonicalRequest,
    hashedCanonicalRequest,
    credentialScope,
    stringToSign,
    signedHeaders,
    signature,
    authorization,
  };
}
