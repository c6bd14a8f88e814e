// startSimulator(): a local stand-in for Tencent Cloud (Lighthouse + CVM API and the single-use wss VNC endpoint).

import { createServer as createHttpServer, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo, Socket } from 'node:net';
import { createApiRequestHandler, type ApiCallRecord, type ApiServerDeps, type InjectedError, type SimAccount } from './api-server.js';
import { DEMO_INSTANCES, type InstanceState, type Product, type SimInstance } from './instances.js';
import type { InputEvent } from './rfb-server.js';
import { createSlidingWindowLimiter } from './sliding-window.js';
import { createVncEndpoint, type VncHandshake } from './vnc-endpoint.js';
import { createVncTokenStore } from './vnc-tokens.js';

export type { ApiCallRecord, InjectedError, SimAccount } from './api-server.js';
export type { InstanceState, Product, SimInstance, VncTarget } from './instances.js';
export { DEMO_INSTANCES, PRODUCT_VERSIONS } from './instances.js';
export type { InputEvent } from './rfb-server.js';
export { createSelfSignedCertificate, type SelfSignedCertificate } from './tls.js';
export { startMetadataServer, type MetadataServer, type MetadataServerOptions } from './metadata-server.js';

/** The account accepted when no `accounts` are given (permanent key, no token). */
export const DEMO_CREDENTIALS: Readonly<SimAccount> = Object.freeze({
  secretId: 'AKIDsimulatorDEMO0000000000000000000',
  secretKey: 'simulatorDemoSecretKey0000000000',
});

/** Options for {@link startSimulator}. */
export interface SimulatorOptions {
  /** When set, the API is https and the VNC endpoint wss; otherwise http and ws. */
  tls?: { cert: string | Buffer; key: string | Buffer };
  /** Listen address (default 127.0.0.1). */
  host?: string;
  /** Host written into returned VNC URLs (default `localhost`, which the generated cert covers). */
  publicHost?: string;
  /** Port written into returned VNC URLs (default: the VNC endpoint's own); the bench points it at its bulk/echo twin. */
  vncUrlPort?: number;
  /** API port (default 0: any free port). */
  port?: number;
  /** VNC endpoint port (default 0: any free port). */
  vncPort?: number;
  /** Accepted credentials (default [DEMO_CREDENTIALS]). */
  accounts?: readonly SimAccount[];
  /** The fleet (default DEMO_INSTANCES); copied, so setInstanceState never mutates the caller's objects. */
  instances?: readonly SimInstance[];
  /** Millisecond clock for signatures, limits and URL lifetimes (default Date.now). */
  now?: () => number;
  /** How long an issued VNC URL stays valid (default 15000 ms). */
  urlTtlMs?: number;
  /** Calls per account, product and action in any 1 s (default 10), as Tencent counts them per interface. */
  apiRequestsPerSecond?: number;
  /** VNC URLs issued per instance in any 60 s (default 30). */
  connectsPerInstancePerMinute?: number;
}

/** A running simulator. */
export interface Simulator {
  /** e.g. `https://127.0.0.1:40123` — the endpoint both products are served on. */
  readonly apiUrl: string;
  /** An endpoint serving Lighthouse only (a CVM request there is refused), as lighthouse.tencentcloudapi.com does. */
  readonly lighthouseApiUrl: string;
  /** An endpoint serving CVM only, as cvm.tencentcloudapi.com does. */
  readonly cvmApiUrl: string;
  /** Port of the VNC endpoint named in returned URLs. */
  readonly vncPort: number;
  /** Every API call received, in order. */
  readonly calls: readonly ApiCallRecord[];
  /** The next matching DescribeInstanceVncUrl calls (after authentication) answer this error. */
  injectError(opts: InjectedError): void;
  /** Changes an instance's state; leaving RUNNING ends its live VNC sessions. Throws for an unknown id. */
  setInstanceState(id: string, state: InstanceState): void;
  /**
   * The instance's live VNC sessions freeze (a hung console, a partitioned network): they stop
   * reading, so nothing is echoed and no ping is answered; each is dropped after `dropAfterMs`
   * (default 60 s). Returns how many froze.
   */
  stallInstance(id: string, dropAfterMs?: number): number;
  /** Accepts another set of credentials from now on (a rotated temporary key, another account). */
  addAccount(account: SimAccount): void;
  /** Keys, pointer events and cut text the built-in RFB server received for an instance. */
  inputEvents(instanceId: string): readonly InputEvent[];
  /** VNC sessions opened (upgrades accepted and bridged). */
  readonly vncConnections: number;
  /** What each redeemed VNC upgrade offered (subprotocols, extensions), oldest first. */
  readonly vncHandshakes: readonly VncHandshake[];
  /**
   * Text copied on the instance (ServerCutText to its live built-in RFB sessions, as a VNC
   * server sends when the remote clipboard changes); returns how many sessions it reached.
   */
  copyText(instanceId: string, text: string): number;
  /**
   * The bearer secret (`s=` value) of every VNC URL issued, oldest first (at most the last
   * 10 000): what a leak scan looks for in the gateway's logs and audit records.
   */
  readonly issuedVncSecrets: readonly string[];
  /** Ends every socket and both servers. */
  close(): Promise<void>;
}

// Pointer motion is chatty; keep the most recent events so a long demo cannot grow without bound.
const MAX_INPUT_EVENTS = 10_000;
const MAX_ISSUED_SECRETS = 10_000;

function listen(server: Server, port: number, host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => {
      server.off('error', reject);
      resolve((server.address() as AddressInfo).port);
    });
  });
}

function trackSockets(server: Server): Set<Socket> {
  const sockets = new Set<Socket>();
  server.on('connection', (socket: Socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  return sockets;
}

function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

/** Starts the API server and the VNC endpoint; resolves once both listen. */
export async function startSimulator(options: SimulatorOptions = {}): Promise<Simulator> {
  const now = options.now ?? Date.now;
  const host = options.host ?? '127.0.0.1';
  const publicHost = options.publicHost ?? 'localhost';
  const requestsPerSecond = options.apiRequestsPerSecond ?? 10;
  const connectsPerMinute = options.connectsPerInstancePerMinute ?? 30;
  const instances = new Map<string, SimInstance>();
  for (const instance of options.instances ?? DEMO_INSTANCES) instances.set(instance.id, { ...instance });
  const calls: ApiCallRecord[] = [];
  // Mutable so rotated temporary keys can be added while the simulator runs.
  const accounts: SimAccount[] = [...(options.accounts ?? [DEMO_CREDENTIALS])];
  const injected: (InjectedError & { remaining: number })[] = [];
  const inputs = new Map<string, InputEvent[]>();
  const tokens = createVncTokenStore({ ttlMs: options.urlTtlMs ?? 15_000, now });
  const issuedSecrets: string[] = [];

  const makeServer = (): Server =>
    options.tls !== undefined ? createHttpsServer({ cert: options.tls.cert, key: options.tls.key }) : createHttpServer();

  const endpoint = createVncEndpoint({
    tokens,
    instances,
    onInput(instanceId, event) {
      const log = inputs.get(instanceId) ?? [];
      log.push(event);
      if (log.length > MAX_INPUT_EVENTS) log.splice(0, log.length - MAX_INPUT_EVENTS);
      inputs.set(instanceId, log);
    },
  });
  const vncServer = makeServer();
  const vncSockets = trackSockets(vncServer);
  vncServer.on('request', (_req, res) => {
    res.writeHead(426, { 'Content-Type': 'text/plain', Connection: 'close', Upgrade: 'websocket' });
    res.end('WebSocket upgrade required\n');
  });
  vncServer.on('upgrade', (req, socket, head) => endpoint.handleUpgrade(req, socket, head));
  const vncPort = await listen(vncServer, options.vncPort ?? 0, host);
  const scheme = options.tls !== undefined ? 'wss' : 'ws';

  // One handler state (limits, tokens, injected errors, call log) behind three listeners: both
  // products on `apiUrl`, and each product alone on its own URL, like Tencent's two hosts.
  const apiDeps: ApiServerDeps = {
    accounts,
    instances,
    now,
    requestLimiter: createSlidingWindowLimiter({ limit: requestsPerSecond, windowMs: 1000, now }),
    requestsPerSecond,
    connectLimiter: createSlidingWindowLimiter({ limit: connectsPerMinute, windowMs: 60_000, now }),
    connectsPerMinute,
    tokens,
    // Same shape as Tencent's: the whole URL percent-encoded, with the console's extra parameters.
    vncUrlFor: (token) => {
      issuedSecrets.push(token);
      if (issuedSecrets.length > MAX_ISSUED_SECRETS) issuedSecrets.splice(0, issuedSecrets.length - MAX_ISSUED_SECRETS);
      return encodeURIComponent(`${scheme}://${publicHost}:${options.vncUrlPort ?? vncPort}/vnc?s=${token}&password=&isWindows=false&isUbuntu=false`);
    },
    takeInjectedError(instanceId) {
      const index = injected.findIndex((e) => e.instanceId === undefined || e.instanceId === instanceId);
      const match = injected[index];
      if (match === undefined) return undefined;
      match.remaining--;
      if (match.remaining <= 0) injected.splice(index, 1);
      return { code: match.code, message: match.message ?? `Injected error ${match.code}.`, ...(match.drop ? { drop: true } : {}), ...(match.hang ? { hang: true } : {}) };
    },
    calls,
  };
  const apiServers: Server[] = [];
  const apiSockets: Set<Socket>[] = [];
  const startApiServer = async (port: number, product?: Product): Promise<string> => {
    const server = makeServer();
    apiServers.push(server);
    apiSockets.push(trackSockets(server));
    server.on('request', createApiRequestHandler(product === undefined ? apiDeps : { ...apiDeps, product }));
    server.on('upgrade', (_req, socket) => {
      socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\nContent-Length: 0\r\n\r\n');
    });
    const bound = await listen(server, port, host);
    return `${options.tls !== undefined ? 'https' : 'http'}://${urlHost(host)}:${bound}`;
  };
  let apiUrl: string;
  let lighthouseApiUrl: string;
  let cvmApiUrl: string;
  try {
    apiUrl = await startApiServer(options.port ?? 0);
    lighthouseApiUrl = await startApiServer(0, 'lighthouse');
    cvmApiUrl = await startApiServer(0, 'cvm');
  } catch (error) {
    vncServer.close();
    for (const server of apiServers) server.close();
    throw error;
  }

  let closing: Promise<void> | undefined;
  return {
    apiUrl,
    lighthouseApiUrl,
    cvmApiUrl,
    vncPort,
    calls,
    addAccount(account) {
      accounts.push({ ...account });
    },
    injectError(opts) {
      const count = opts.count ?? 1;
      if (!Number.isInteger(count) || count < 1) throw new Error('injectError: count must be a positive integer');
      injected.push({ ...opts, remaining: count });
    },
    setInstanceState(id, state) {
      const instance = instances.get(id);
      if (instance === undefined) throw new Error(`setInstanceState: unknown instance ${id}`);
      instance.state = state;
      if (state !== 'RUNNING') endpoint.endInstanceSessions(id, state);
    },
    stallInstance(id, dropAfterMs = 60_000) {
      return endpoint.stallInstanceSessions(id, dropAfterMs);
    },
    inputEvents(instanceId) {
      return [...(inputs.get(instanceId) ?? [])];
    },
    get vncConnections() {
      return endpoint.connections;
    },
    get vncHandshakes() {
      return [...endpoint.handshakes];
    },
    copyText(instanceId, text) {
      return endpoint.copyText(instanceId, text);
    },
    get issuedVncSecrets() {
      return [...issuedSecrets];
    },
    close() {
      closing ??= (async () => {
        const closed = Promise.all(
          [...apiServers, vncServer].map((server) => new Promise<void>((resolve) => server.close(() => resolve()))),
        );
        await endpoint.close();
        for (const server of apiServers) server.closeAllConnections();
        vncServer.closeAllConnections();
        for (const socket of [...apiSockets.flatMap((set) => [...set]), ...vncSockets]) socket.destroy();
        await closed;
      })();
      return closing;
    },
  };
}
