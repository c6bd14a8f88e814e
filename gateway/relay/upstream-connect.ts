// Opens the upstream console WebSocket within a deadline (inside the URL's 15 s life), with
// TLS verified, compression off and the client's non-ticket subprotocols offered.

import { WebSocket } from 'ws';
import { GatewayError } from '../errors.js';

export interface UpstreamConnectOptions {
  protocols: readonly string[];
  timeoutMs: number;
  /** Extra CA certificates for tests; operators use NODE_EXTRA_CA_CERTS. */
  ca?: readonly string[];
  /** Largest frame accepted from the upstream (framebuffer updates can be large). */
  maxPayloadBytes?: number;
  agent?: import('node:http').Agent;
}

/** Resolves with an open, paused socket (the relay resumes it), or rejects with a GatewayError. */
export function connectUpstream(url: URL, options: UpstreamConnectOptions): Promise<WebSocket> {
  return new Promise((resolve, reject) => {
    const socket = new WebSocket(url, [...options.protocols], {
      perMessageDeflate: false,
      handshakeTimeout: options.timeoutMs,
      maxPayload: options.maxPayloadBytes ?? 64 * 1024 * 1024,
      followRedirects: false,
      rejectUnauthorized: true,
      ...(options.ca ? { ca: [...options.ca] } : {}),
      ...(options.agent ? { agent: options.agent } : {}),
    });
    let settled = false;
    const fail = (error: GatewayError): void => {
      if (settled) return;
      settled = true;
      socket.removeAllListeners('open');
      socket.on('error', () => undefined);
      socket.terminate();
      reject(error);
    };
    // The handshake timeout covers the HTTP exchange; this covers DNS, TCP and TLS as well.
    const timer = setTimeout(() => fail(new GatewayError('upstream_timeout', { cause: new Error(`no upstream handshake within ${options.timeoutMs} ms`) })), options.timeoutMs);
    socket.once('open', () => {
      clearTimeout(timer);
      if (settled) return;
      settled = true;
      socket.removeAllListeners('error');
      socket.removeAllListeners('unexpected-response');
      // Until the relay attaches its listeners: no frame may be emitted to nobody, no error thrown.
      socket.pause();
      socket.on('error', () => undefined);
      resolve(socket);
    });
    socket.once('unexpected-response', (_req, res) => {
      clearTimeout(timer);
      res.resume();
      fail(new GatewayError('upstream_failed', { upstreamCode: `HTTP${res.statusCode ?? 0}`, cause: new Error(`upstream refused the upgrade with HTTP ${res.statusCode}`) }));
    });
    socket.once('error', (error: Error) => {
      clearTimeout(timer);
      const timedOut = /timed out|timeout/i.test(error.message);
      // ws's message can quote the URL it dialled; keep only the class of failure.
      const cause = new Error(`upstream connection failed: ${(error as NodeJS.ErrnoException).code ?? (timedOut ? 'timeout' : 'error')}`);
      fail(new GatewayError(timedOut ? 'upstream_timeout' : 'upstream_failed', { upstreamCode: timedOut ? 'Timeout' : 'ConnectFailed', cause }));
    });
  });
}
