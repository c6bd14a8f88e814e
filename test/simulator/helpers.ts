// Test helpers for the simulator suites: signed API calls (signed by the gateway's signer), bounded waits, a tiny RFB client.

import { request as httpRequest } from 'node:http';
import { request as httpsRequest } from 'node:https';
import { signTc3 } from '../../gateway/tencent/sign.js';
import { DEMO_CREDENTIALS, PRODUCT_VERSIONS, type Product, type Simulator } from '../../simulator/index.js';

/** A parsed Tencent API response. */
export interface ApiResponse {
  status: number;
  body: { Response: { Error?: { Code: string; Message: string }; RequestId: string; [key: string]: unknown } };
}

/** Options for {@link callApi}; everything defaults to a correct, freshly signed request. */
export interface CallOptions {
  service?: string;
  action?: string;
  version?: string;
  region?: string;
  /** Object bodies are JSON-encoded; strings are sent as they are. */
  body?: unknown;
  secretId?: string;
  secretKey?: string;
  token?: string;
  /** Seconds; default from `now`. */
  timestamp?: number;
  now?: () => number;
  ca?: string;
  /** Host to sign (default: the Host actually sent). */
  signedHost?: string;
  /** Replaces the body after signing (tampering). */
  sentBody?: string;
  /** Replaces headers after signing. */
  headerOverrides?: Record<string, string | undefined>;
  method?: string;
  path?: string;
}

/** Sends one API request, signed by gateway/tencent/sign.ts exactly as the gateway will. */
export async function callApi(sim: Pick<Simulator, 'apiUrl'>, options: CallOptions = {}): Promise<ApiResponse> {
  const url = new URL(sim.apiUrl);
  const service = options.service ?? 'lighthouse';
  const payload = typeof options.body === 'string' ? options.body : JSON.stringify(options.body ?? { InstanceId: 'lhins-demo0001' });
  const timestamp = options.timestamp ?? Math.floor((options.now ?? Date.now)() / 1000);
  const contentType = 'application/json';
  const signature = signTc3({
    secretId: options.secretId ?? DEMO_CREDENTIALS.secretId,
    secretKey: options.secretKey ?? DEMO_CREDENTIALS.secretKey,
    service,
    host: options.signedHost ?? url.host,
    contentType,
    payload,
    timestamp,
  });
  const headers: Record<string, string> = {
    Host: url.host,
    'Content-Type': contentType,
    'X-TC-Action': options.action ?? 'DescribeInstanceVncUrl',
    'X-TC-Version': options.version ?? PRODUCT_VERSIONS[(service === 'cvm' ? 'cvm' : 'lighthouse') as Product],
    'X-TC-Timestamp': String(timestamp),
    Authorization: signature.authorization,
  };
  if (options.region !== undefined) headers['X-TC-Region'] = options.region;
  if (options.token !== undefined) headers['X-TC-Token'] = options.token;
  for (const [name, value] of Object.entries(options.headerOverrides ?? {})) {
    const existing = Object.keys(headers).find((h) => h.toLowerCase() === name.toLowerCase());
    if (existing !== undefined) delete headers[existing];
    if (value !== undefined) headers[name] = value;
  }
  return rawRequest(sim.apiUrl, {
    method: options.method ?? 'POST',
    path: options.path ?? '/',
    headers,
    body: options.sentBody ?? payload,
    ...(options.ca !== undefined ? { ca: options.ca } : {}),
  });
}

/** One HTTP(S) request with exact headers and body; bounded by a 5 s timeout. */
export function rawRequest(
  base: string,
  req: { method: string; path: string; headers: Record<string, string>; body: string; ca?: string },
): Promise<ApiResponse> {
  const url = new URL(req.path, base);
  const send = url.protocol === 'https:' ? httpsRequest : httpRequest;
  return new Promise((resolve, reject) => {
    const r = send(
      url,
      { method: req.method, headers: req.headers, timeout: 5000, ...(req.ca !== undefined ? { ca: req.ca } : {}) },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          try {
            resolve({ status: res.statusCode ?? 0, body: JSON.parse(Buffer.concat(chunks).toString('utf8')) as ApiResponse['body'] });
          } catch (error) {
            reject(error instanceof Error ? error : new Error(String(error)));
          }
        });
      },
    );
    r.on('timeout', () => r.destroy(new Error('request timed out')));
    r.on('error', reject);
    if (req.method !== 'GET' && req.method !== 'HEAD') r.end(req.body);
    else r.end();
  });
}

/** The error code of a response, or 'ok'. */
export function codeOf(response: ApiResponse): string {
  return response.body.Response.Error?.Code ?? 'ok';
}

/** Decodes an InstanceVncUrl into the wss:// URL it holds. */
export function decodeVncUrl(encoded: unknown): URL {
  if (typeof encoded !== 'string') throw new Error(`InstanceVncUrl is not a string: ${String(encoded)}`);
  return new URL(decodeURIComponent(encoded));
}

/** Rejects after `ms` unless `promise` settles first. */
export function within<T>(ms: number, promise: Promise<T>, what: string): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    promise.then(
      (v) => {
        clearTimeout(timer);
        resolve(v);
      },
      (e: unknown) => {
        clearTimeout(timer);
        reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  });
}

/** Accumulates binary messages and hands out exact byte counts: RFB over WebSocket has no message boundaries. */
export class ByteQueue {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | undefined;
  private ended: Error | undefined;

  push(chunk: Buffer): void {
    this.buffer = Buffer.concat([this.buffer, chunk]);
    this.waiter?.();
  }

  end(reason: Error): void {
    this.ended = reason;
    this.waiter?.();
  }

  get available(): number {
    return this.buffer.length;
  }

  /** Resolves with exactly `n` bytes, failing after `timeoutMs`. */
  async read(n: number, timeoutMs = 5000): Promise<Buffer> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (this.ended !== undefined) throw this.ended;
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.buffer.length})`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, left);
        this.waiter = () => {
          clearTimeout(timer);
          resolve();
        };
      });
      this.waiter = undefined;
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }
}
