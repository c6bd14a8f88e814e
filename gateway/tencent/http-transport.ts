// One HTTPS POST with a deadline, a response size cap and no redirects: the only way the
// gateway talks to the Tencent Cloud API. TLS is always verified; `ca` adds trust anchors
// for tests, and NODE_EXTRA_CA_CERTS does the same for operators.

import { request as httpRequest, type Agent as HttpAgent } from 'node:http';
import { request as httpsRequest, type Agent as HttpsAgent } from 'node:https';

export interface HttpResponse {
  status: number;
  body: string;
}

export interface HttpPostOptions {
  url: URL;
  headers: Readonly<Record<string, string>>;
  body: string;
  timeoutMs: number;
}

/** Sends one request; rejects with TransportError on network failure or timeout. */
export type HttpTransport = (options: HttpPostOptions) => Promise<HttpResponse>;

export class TransportError extends Error {
  override readonly name = 'TransportError';
  constructor(message: string, readonly timedOut: boolean, options?: { cause?: unknown }) {
    super(message, options);
  }
}

export interface HttpTransportOptions {
  /** Extra CA certificates (PEM) to trust besides the system's and NODE_EXTRA_CA_CERTS. */
  ca?: readonly string[];
  /** An agent for egress proxies. */
  agent?: HttpAgent | HttpsAgent;
  /** Picks the agent per destination (HTTPS_PROXY / NO_PROXY); wins over `agent`. */
  agentFor?: (url: URL) => HttpAgent | HttpsAgent | undefined;
  /** Responses larger than this are refused (a DescribeInstanceVncUrl answer is < 1 KiB). */
  maxResponseBytes?: number;
}

export function createHttpTransport(options: HttpTransportOptions = {}): HttpTransport {
  const maxResponseBytes = options.maxResponseBytes ?? 1024 * 1024;
  const agentOf = (url: URL): HttpAgent | HttpsAgent | undefined => (options.agentFor ? options.agentFor(url) : options.agent);
  return function postJson({ url, headers, body, timeoutMs }: HttpPostOptions): Promise<HttpResponse> {
    return new Promise((resolve, reject) => {
      const isHttps = url.protocol === 'https:';
      const send = isHttps ? httpsRequest : httpRequest;
      const req = send(
        url,
        {
          method: 'POST',
          headers: { ...headers, 'Content-Length': String(Buffer.byteLength(body)) },
          ...(isHttps && options.ca ? { ca: [...options.ca] } : {}),
          ...(agentOf(url) ? { agent: agentOf(url) } : {}),
          rejectUnauthorized: true,
        },
        (res) => {
          const chunks: Buffer[] = [];
          let size = 0;
          res.on('data', (chunk: Buffer) => {
            size += chunk.length;
            if (size > maxResponseBytes) {
              req.destroy(new TransportError(`response larger than ${maxResponseBytes} bytes`, false));
              return;
            }
            chunks.push(chunk);
          });
          res.on('end', () => {
            clearTimeout(timer);
            resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString('utf8') });
          });
          res.on('error', (error) => {
            clearTimeout(timer);
            reject(error instanceof TransportError ? error : new TransportError(error.message, false, { cause: error }));
          });
        },
      );
      const timer = setTimeout(() => {
        req.destroy(new TransportError(`no answer within ${timeoutMs} ms`, true));
      }, timeoutMs);
      req.on('error', (error) => {
        clearTimeout(timer);
        reject(error instanceof TransportError ? error : new TransportError(error.message, false, { cause: error }));
      });
      req.end(body);
    });
  };
}
