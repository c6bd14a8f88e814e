// The wss:// VNC endpoint: redeems single-use URL tokens on upgrade and bridges each session to its instance's target.

import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { InstanceState, SimInstance } from './instances.js';
import type { InputEvent, RfbServer } from './rfb-server.js';
import type { VncTokenStore } from './vnc-tokens.js';
import { bridgeToBuiltin, bridgeToEcho, bridgeToTcp, closeSocket } from './ws-bridge.js';

/** What the endpoint needs from the simulator. */
export interface VncEndpointDeps {
  tokens: VncTokenStore;
  instances: ReadonlyMap<string, SimInstance>;
  onInput(instanceId: string, event: InputEvent): void;
}

/** What a client offered in an upgrade the endpoint accepted (or, for a silent console, held). */
export interface VncHandshake {
  instanceId: string;
  /** `Sec-WebSocket-Protocol` entries, in order. */
  protocols: string[];
  /** `Sec-WebSocket-Extensions` as sent, if any (a compression offer, say). */
  extensions: string | undefined;
}

/** The VNC endpoint, attached to an HTTP(S) server's `upgrade` event. */
export interface VncEndpoint {
  handleUpgrade(req: IncomingMessage, socket: Duplex, head: Buffer): void;
  /** Every redeemed upgrade's offer, oldest first (at most the last 1 000). */
  readonly handshakes: readonly VncHandshake[];
  /** Sends text "copied on the remote machine" to the instance's live built-in sessions; returns how many. */
  copyText(instanceId: string, text: string): number;
  /** Sessions accepted so far (each bridged to a target). */
  readonly connections: number;
  /** Ends the live sessions of an instance (it left RUNNING) with a normal close. */
  endInstanceSessions(instanceId: string, state: InstanceState): void;
  /** Freezes the live sessions of an instance (no reads, no pongs), dropping each after `dropAfterMs`; returns how many. */
  stallInstanceSessions(instanceId: string, dropAfterMs: number): number;
  /** Ends every session: a close frame first, then termination of whatever is still open after a grace period. */
  close(): Promise<void>;
}

const CLOSE_GRACE_MS = 300;
const MAX_HANDSHAKES = 1000;

// A refused upgrade gets a plain HTTP response, which is what Tencent's endpoint does and what a
// relay sees as "the upstream refused" (a browser cannot read it, but the gateway can).
function refuse(socket: Duplex, status: number, text: string, body: string): void {
  if (!socket.writable) {
    socket.destroy();
    return;
  }
  socket.once('finish', () => socket.destroy());
  socket.end(
    `HTTP/1.1 ${status} ${text}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n` +
      `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
  );
}

/** Creates the endpoint. */
export function createVncEndpoint(deps: VncEndpointDeps): VncEndpoint {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: 64 * 1024 * 1024,
    // noVNC offers `binary`; anything else gets no subprotocol, as websockify does.
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });
  const sessions = new Map<WebSocket, string>();
  const builtins = new Map<WebSocket, RfbServer>();
  const held = new Set<Duplex>();
  const handshakes: VncHandshake[] = [];
  let connections = 0;

  return {
    handleUpgrade(req, socket, head) {
      socket.on('error', () => socket.destroy());
      const url = new URL(req.url ?? '/', 'http://simulator.invalid');
      if (url.pathname !== '/vnc') return refuse(socket, 404, 'Not Found', 'no such endpoint\n');
      const token = url.searchParams.get('s');
      if (token === null || token === '') return refuse(socket, 403, 'Forbidden', 'missing VNC URL token\n');
      const redeemed = deps.tokens.redeem(token);
      if (!redeemed.ok) return refuse(socket, 403, 'Forbidden', `VNC URL ${redeemed.reason}\n`);
      const instance = deps.instances.get(redeemed.instanceId);
      if (instance === undefined || instance.state !== 'RUNNING') {
        return refuse(socket, 403, 'Forbidden', 'instance is not running\n');
      }
      const protocols = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
      handshakes.push({ instanceId: instance.id, protocols, extensions: req.headers['sec-websocket-extensions'] });
      if (handshakes.length > MAX_HANDSHAKES) handshakes.splice(0, handshakes.length - MAX_HANDSHAKES);
      const target = instance.vnc ?? { kind: 'builtin' };
      if (target.kind === 'silent') {
        // Held until the client gives up (or the simulator closes): no 101, no refusal.
        held.add(socket);
        socket.once('close', () => held.delete(socket));
        return;
      }
      wss.handleUpgrade(req, socket, head, (ws) => {
        connections++;
        sessions.set(ws, instance.id);
        ws.on('error', () => ws.terminate());
        ws.on('close', () => {
          sessions.delete(ws);
          builtins.delete(ws);
        });
        if (target.kind === 'echo') bridgeToEcho(ws);
        else if (target.kind === 'tcp') bridgeToTcp(ws, target.host, target.port);
        else builtins.set(ws, bridgeToBuiltin(ws, instance.id, (event) => deps.onInput(instance.id, event)));
      });
    },
    get connections() {
      return connections;
    },
    get handshakes() {
      return handshakes;
    },
    copyText(instanceId, text) {
      let sent = 0;
      for (const [ws, rfb] of builtins) {
        if (sessions.get(ws) !== instanceId) continue;
        rfb.sendCutText(text);
        sent++;
      }
      return sent;
    },
    endInstanceSessions(instanceId, state) {
      for (const [ws, id] of sessions) {
        if (id === instanceId) closeSocket(ws, 1000, `instance is now ${state}`);
      }
    },
    stallInstanceSessions(instanceId, dropAfterMs) {
      let stalled = 0;
      for (const [ws, id] of sessions) {
        if (id !== instanceId || ws.readyState !== ws.OPEN) continue;
        // A paused socket is not read: frames, pings and even the peer's FIN wait in the kernel.
        ws.pause();
        setTimeout(() => ws.terminate(), dropAfterMs).unref();
        stalled++;
      }
      return stalled;
    },
    async close() {
      const open = [...sessions.keys()];
      for (const ws of open) closeSocket(ws, 1001, 'simulator shutting down');
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, CLOSE_GRACE_MS);
        const check = (): void => {
          if (sessions.size === 0) {
            clearTimeout(timer);
            resolve();
          }
        };
        for (const ws of open) ws.once('close', check);
        check();
      });
      for (const ws of sessions.keys()) ws.terminate();
      for (const socket of held) socket.destroy();
      await new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
