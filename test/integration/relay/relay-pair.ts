// A relay between real sockets on port 0, without the gateway's door: a test client, a front
// WebSocket server that hands each accepted socket to a RelaySession, and a scripted upstream.

import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { RelaySession, type RelayOptions, type RelayResult } from '../../../gateway/relay/relay-session.js';

export interface RelayPair {
  /** The test's client socket. */
  client: WebSocket;
  /** Messages the client received. */
  received: Buffer[];
  clientClosed: Promise<{ code: number; reason: string }>;
  relay: RelaySession;
  /** The gateway's side of the client connection (its bufferedAmount is the gateway's queue). */
  gatewayClient: WebSocket;
  /** The upstream server's side of the connection. */
  upstreamPeer: WebSocket;
  upstreamClosed: Promise<{ code: number; reason: string }>;
  result: Promise<RelayResult>;
  close(): Promise<void>;
}

export interface RelayPairOptions {
  relay?: RelayOptions;
  /** Scripts the upstream once its connection is accepted. */
  upstream?: (peer: WebSocket) => void;
  /** Options of the upstream server (autoPong: false simulates a dead upstream). */
  upstreamServer?: { autoPong?: boolean };
  client?: { autoPong?: boolean };
  maxClientPayloadBytes?: number;
  maxUpstreamPayloadBytes?: number;
}

function listening(server: WebSocketServer): Promise<number> {
  return new Promise((resolve) => server.once('listening', () => resolve((server.address() as AddressInfo).port)));
}

export async function startRelayPair(options: RelayPairOptions = {}): Promise<RelayPair> {
  const upstreamServer = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, autoPong: options.upstreamServer?.autoPong ?? true });
  const upstreamPort = await listening(upstreamServer);
  let upstreamClosedResolve: (v: { code: number; reason: string }) => void = () => undefined;
  const upstreamClosed = new Promise<{ code: number; reason: string }>((resolve) => (upstreamClosedResolve = resolve));
  const upstreamPeerReady = new Promise<WebSocket>((resolve) =>
    upstreamServer.once('connection', (peer) => {
      peer.on('error', () => undefined);
      peer.once('close', (code, reason) => upstreamClosedResolve({ code, reason: reason.toString() }));
      options.upstream?.(peer);
      resolve(peer);
    }),
  );

  const front = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false, maxPayload: options.maxClientPayloadBytes ?? 64 * 1024 });
  const frontPort = await listening(front);
  const relayReady = new Promise<{ relay: RelaySession; gatewayClient: WebSocket }>((resolve) =>
    front.once('connection', (gatewayClient) => {
      gatewayClient.pause();
      gatewayClient.on('error', () => undefined);
      const upstream = new WebSocket(`ws://127.0.0.1:${upstreamPort}/`, { perMessageDeflate: false, maxPayload: options.maxUpstreamPayloadBytes ?? 64 * 1024 * 1024 });
      upstream.on('error', () => undefined);
      upstream.once('open', () => {
        upstream.pause();
        resolve({ relay: new RelaySession(gatewayClient, upstream, options.relay), gatewayClient });
      });
    }),
  );

  const client = new WebSocket(`ws://127.0.0.1:${frontPort}/`, { perMessageDeflate: false, autoPong: options.client?.autoPong ?? true, maxPayload: 256 * 1024 * 1024 });
  const received: Buffer[] = [];
  client.on('message', (data: Buffer) => received.push(data));
  client.on('error', () => undefined);
  const clientClosed = new Promise<{ code: number; reason: string }>((resolve) => client.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const { relay, gatewayClient } = await relayReady;
  const upstreamPeer = await upstreamPeerReady;
  await new Promise<void>((resolve) => (client.readyState === WebSocket.OPEN ? resolve() : client.once('open', () => resolve())));

  return {
    client,
    received,
    clientClosed,
    relay,
    gatewayClient,
    upstreamPeer,
    upstreamClosed,
    result: relay.done,
    async close() {
      client.terminate();
      upstreamPeer.terminate();
      gatewayClient.terminate();
      await Promise.all([new Promise((r) => front.close(r)), new Promise((r) => upstreamServer.close(r))]);
    },
  };
}

/** An upstream that sends `totalBytes` in `frameBytes` frames as fast as its own queue allows. */
export function floodUpstream(totalBytes: number, frameBytes: number, progress: { sent: number }): (peer: WebSocket) => void {
  return (peer) => {
    const frame = Buffer.alloc(frameBytes, 0x5a);
    const pump = (): void => {
      while (progress.sent < totalBytes && peer.readyState === WebSocket.OPEN) {
        progress.sent += frame.length;
        // Its own backpressure: wait for the queue to drain rather than buffer without end.
        if (peer.bufferedAmount > 2 * 1024 * 1024) {
          peer.send(frame, { binary: true }, () => setImmediate(pump));
          return;
        }
        peer.send(frame, { binary: true });
      }
    };
    pump();
  };
}
