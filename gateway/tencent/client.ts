// A signed Tencent Cloud API 3.0 client: builds the request, signs it with TC3, sends it with
// a deadline, and turns every failure into a GatewayError that keeps the RequestId and the
// Tencent error code for the audit record.

import { GatewayError } from '../errors.js';
import type { CredentialProvider } from './credentials.js';
import { mapTencentError } from './error-codes.js';
import { TransportError, type HttpTransport } from './http-transport.js';
import { PRODUCTS, type Product } from './products.js';
import { signTc3 } from './sign.js';

export interface TencentClientOptions {
  credentials: CredentialProvider;
  transport: HttpTransport;
  /** Default region (X-TC-Region). */
  region: string;
  endpoints: Readonly<Record<Product, URL>>;
  timeoutMs: number;
  /** Milliseconds since the epoch; the signer works in seconds. */
  now?: () => number;
}

export interface TencentCallResult {
  response: Readonly<Record<string, unknown>>;
  requestId: string;
}

export interface TencentCall {
  product: Product;
  action: string;
  params: Readonly<Record<string, unknown>>;
  region?: string;
  /** This call's deadline, when shorter than the client's (a retry late in a session's setup). */
  timeoutMs?: number;
}

export interface TencentClient {
  /** Calls one API action; resolves with the `Response` object or rejects with a GatewayError. */
  call(call: TencentCall): Promise<TencentCallResult>;
}

// Exactly what the official SDK sends and signs (reference/tc3-vectors.json notes).
const CONTENT_TYPE = 'application/json';

export function createTencentClient(options: TencentClientOptions): TencentClient {
  const now = options.now ?? Date.now;
  return {
    async call({ product, action, params, region, timeoutMs }: TencentCall): Promise<TencentCallResult> {
      const spec = PRODUCTS[product];
      const endpoint = options.endpoints[product];
      let credentials;
      try {
        credentials = await options.credentials();
      } catch (error) {
        throw new GatewayError('tencent_api_error', {
          message: "The gateway's Tencent Cloud credentials are unavailable.",
          upstreamCode: 'CredentialsUnavailable',
          cause: error,
        });
      }
      const timestamp = Math.floor(now() / 1000);
      const payload = JSON.stringify(params);
      // Node sends Host as the URL's host (with a non-default port), so that is what is signed.
      const host = endpoint.host;
      const signature = signTc3({
        secretId: credentials.secretId,
        secretKey: credentials.secretKey,
        service: spec.service,
        host,
        contentType: CONTENT_TYPE,
        payload,
        timestamp,
      });
      const effectiveRegion = region ?? options.region;
      const headers: Record<string, string> = {
        Authorization: signature.authorization,
        'Content-Type': CONTENT_TYPE,
        Host: host,
        'X-TC-Action': action,
        'X-TC-Version': spec.version,
        'X-TC-Timestamp': String(timestamp),
        'X-TC-Region': effectiveRegion,
      };
      if (credentials.token) headers['X-TC-Token'] = credentials.token;

      let status: number;
      let body: string;
      try {
        ({ status, body } = await options.transport({ url: endpoint, headers, body: payload, timeoutMs: Math.min(timeoutMs ?? options.timeoutMs, options.timeoutMs) }));
      } catch (error) {
        if (error instanceof TransportError && error.timedOut) {
          throw new GatewayError('tencent_api_timeout', { cause: error, upstreamCode: 'Timeout' });
        }
        throw new GatewayError('tencent_api_error', {
          message: 'Tencent Cloud could not be reached; try again shortly.',
          upstreamCode: 'NetworkError',
          cause: error,
        });
      }
      return parseResponse(status, body, `${product}:${action}`);
    },
  };
}

function parseResponse(status: number, body: string, what: string): TencentCallResult {
  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (error) {
    throw new GatewayError('tencent_api_error', { upstreamCode: `HTTP${status}`, cause: new Error(`${what}: HTTP ${status}, body is not JSON`, { cause: error }) });
  }
  const response = isRecord(parsed) ? parsed.Response : undefined;
  if (!isRecord(response)) {
    throw new GatewayError('tencent_api_error', { upstreamCode: `HTTP${status}`, cause: new Error(`${what}: HTTP ${status}, no Response object`) });
  }
  const requestId = typeof response.RequestId === 'string' ? response.RequestId : '';
  const error = response.Error;
  if (isRecord(error)) {
    const code = typeof error.Code === 'string' ? error.Code : 'UnknownError';
    const mapping = mapTencentError(code);
    throw new GatewayError(mapping.code, {
      message: mapping.message,
      requestId,
      upstreamCode: code,
      cause: new Error(`${what}: ${code}: ${typeof error.Message === 'string' ? error.Message : ''}`),
    });
  }
  if (status !== 200) {
    throw new GatewayError('tencent_api_error', { requestId, upstreamCode: `HTTP${status}`, cause: new Error(`${what}: HTTP ${status}`) });
  }
  return { response, requestId };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}
