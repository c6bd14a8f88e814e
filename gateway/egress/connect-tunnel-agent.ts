// An https.Agent that reaches TLS origins through an HTTP CONNECT proxy (RFC 9110 §9.3.6): the
// proxy sees only host:port, and TLS to the origin runs inside the tunnel, verified as usual
// (servername = the origin, the caller's `ca` or NODE_EXTRA_CA_CERTS, never unverified).

import { Agent as HttpsAgent, type AgentOptions, type RequestOptions } from 'node:https';
import { connect as netConnect, isIP, type Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { connect as tlsConnect, type ConnectionOptions } from 'node:tls';

export interface ConnectTunnelAgentOptions extends AgentOptions {
  /** `http://[user:pass@]proxy:port` or `https://…` (TLS to the proxy as well). */
  proxy: URL;
  /** How long the proxy may take to open the tunnel. */
  tunnelTimeoutMs?: number;
  /** Called once per tunnel the proxy opened (metrics and tests). */
  onTunnel?: (authority: string) => void;
}

// The TLS settings a caller may pass through to the origin handshake; everything else in the
// request options (path, headers, …) means something else to tls.connect.
const TLS_KEYS = ['ca', 'cert', 'key', 'pfx', 'passphrase', 'ciphers', 'minVersion', 'maxVersion', 'checkServerIdentity', 'ALPNProtocols', 'session'] as const;

const MAX_RESPONSE_HEAD_BYTES = 16 * 1024;

/** An https.Agent whose every connection is a CONNECT tunnel through `proxy`. */
export class ConnectTunnelAgent extends HttpsAgent {
  private readonly proxy: URL;
  private readonly tunnelTimeoutMs: number;
  private readonly onTunnel: ((authority: string) => void) | undefined;

  constructor(options: ConnectTunnelAgentOptions) {
    const { proxy, tunnelTimeoutMs, onTunnel, ...agentOptions } = options;
    super(agentOptions);
    this.proxy = proxy;
    this.tunnelTimeoutMs = tunnelTimeoutMs ?? 10_000;
    this.onTunnel = onTunnel;
  }

  // Node's Agent accepts an asynchronous createConnection that reports through the callback.
  override createConnection(requestOptions: RequestOptions, callback?: (error: Error | null, socket: Duplex) => void): Duplex | null | undefined {
    const options = requestOptions as ConnectionOptions & { host?: string; port?: number | string; servername?: string };
    const done = (error: Error | null, socket?: Duplex): void => callback?.(error, socket as Duplex);
    const host = options.host ?? 'localhost';
    const port = Number(options.port ?? 443);
    const authority = `${isIP(host) === 6 ? `[${host}]` : host}:${port}`;
    const proxyPort = Number(this.proxy.port || (this.proxy.protocol === 'https:' ? 443 : 80));
    const proxyHost = this.proxy.hostname.replace(/^\[|\]$/g, '');
    const socket: Socket =
      this.proxy.protocol === 'https:'
        ? tlsConnect({ host: proxyHost, port: proxyPort, servername: isIP(proxyHost) ? '' : proxyHost, rejectUnauthorized: true, ...(options.ca ? { ca: options.ca } : {}) })
        : netConnect({ host: proxyHost, port: proxyPort });
    let settled = false;
    const fail = (error: Error): void => {
      if (settled) return;
      settled = true;
      socket.destroy();
      done(error);
    };
    socket.setTimeout(this.tunnelTimeoutMs, () => fail(new Error(`proxy did not open a tunnel within ${this.tunnelTimeoutMs} ms`)));
    socket.once('error', (error) => fail(new Error(`proxy connection failed: ${(error as NodeJS.ErrnoException).code ?? 'error'}`)));
    socket.once('close', () => fail(new Error('proxy closed the connection before the tunnel opened')));

    const credentials = this.proxy.username
      ? `Proxy-Authorization: Basic ${Buffer.from(`${decodeURIComponent(this.proxy.username)}:${decodeURIComponent(this.proxy.password)}`).toString('base64')}\r\n`
      : '';
    socket.write(`CONNECT ${authority} HTTP/1.1\r\nHost: ${authority}\r\n${credentials}\r\n`);

    let head = Buffer.alloc(0);
    const onData = (chunk: Buffer): void => {
      head = Buffer.concat([head, chunk]);
      const end = head.indexOf('\r\n\r\n');
      if (end === -1) {
        if (head.length > MAX_RESPONSE_HEAD_BYTES) fail(new Error('proxy answered CONNECT with an oversized response'));
        return;
      }
      socket.off('data', onData);
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(head.subarray(0, end).toString('latin1'))?.[1];
      if (status !== '200') {
        fail(new Error(`proxy refused the tunnel with HTTP ${status ?? '?'}`));
        return;
      }
      settled = true;
      socket.setTimeout(0);
      socket.removeAllListeners('error');
      socket.removeAllListeners('close');
      socket.pause();
      // Bytes after the response head already belong to the origin's TLS stream.
      const rest = head.subarray(end + 4);
      if (rest.length > 0) socket.unshift(rest);
      this.onTunnel?.(authority);
      const tlsOptions: ConnectionOptions = { socket, rejectUnauthorized: true };
      for (const key of TLS_KEYS) {
        if (options[key] !== undefined) (tlsOptions as Record<string, unknown>)[key] = options[key];
      }
      const servername = options.servername || (isIP(host) ? '' : host);
      if (servername) tlsOptions.servername = servername;
      done(null, tlsConnect(tlsOptions));
    };
    socket.on('data', onData);
    return undefined;
  }
}
