// A relay between real sockets on port 0, without the gateway's door: a test client, a front
// WebSocket server that hands each accepted socket to a RelaySession, and a scripted upstream.

import type { AddressInfo } from 'node:net';
import { WebSocket, WebSocketServer } from 'ws';
import { RelaySession, type RelayOptions, type RelayResult } from '../../../gateway/relay/relay-session.js';

/** The relay's side of one connection: everything but the test's client. */
export interface RelayFront {
  /** Where the test's client connects. */
  port: number;
  /** Settles once a client connected and the relay runs. */
  ready: Promise<{ relay: RelaySession; gatewayClient: WebSocket; upstreamPeer: WebSocket }>;
  upstreamClosed: Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

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

/** Starts the upstream server and the relay's front; the caller connects its own client to `port`. */
export async function startRelayFront(options: RelayPairOptions = {}): Promise<RelayFront> {
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
  const port = await listening(front);
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
  const ready = Promise.all([relayReady, upstreamPeerReady]).then(([r, upstreamPeer]) => ({ ...r, upstreamPeer }));
  return {
    port,
    ready,
    upstreamClosed,
    async close() {
      for (const socket of [...front.clients, ...upstreamServer.clients]) socket.terminate();
      await Promise.all([new Promise((r) => front.close(r)), new Promise((r) => upstreamServer.close(r))]);
    },
  };
}

export async function startRelayPair(options: RelayPairOptions = {}): Promise<RelayPair> {
  const front = await startRelayFront(options);
  const client = new WebSocket(`ws://127.0.0.1:${front.port}/`, { perMessageDeflate: false, autoPong: options.client?.autoPong ?? true, maxPayload: 256 * 1024 * 1024 });
  const received: Buffer[] = [];
  client.on('message', (data: Buffer) => received.push(data));
  client.on('error', () => undefined);
  const clientClosed = new Promise<{ code: number; reason: string }>((resolve) => client.once('close', (code, reason) => resolve({ code, reason: reason.toString() })));
  const { relay, gatewayClient, upstreamPeer } = await front.ready;
  await new Promise<void>((resolve) => (client.readyState === WebSocket.OPEN ? resolve() : client.once('open', () => resolve())));

  return {
    client,
    received,
    clientClosed,
    relay,
    gatewayClient,
    upstreamPeer,
    upstreamClosed: front.upstreamClosed,
    result: relay.done,
    async close() {
      client.terminate();
      await front.close();
    },
  };
}

/**
 * An upstream that sends `totalBytes` in `frameBytes` frames as fast as its own queue allows.
 * Each frame is numbered: its first four bytes are its index, the rest the index's low byte, so
 * {@link checkSequence} can tell a lost, repeated, reordered or altered frame.
 */
export function floodUpstream(totalBytes: number, frameBytes: number, progress: { sent: number }): (peer: WebSocket) => void {
  return (peer) => {
    let index = 0;
    const pump = (): void => {
      while (progress.sent < totalBytes && peer.readyState === WebSocket.OPEN) {
        const frame = numberedFrame(index++, frameBytes);
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

function numberedFrame(index: number, frameBytes: number): Buffer {
  const frame = Buffer.alloc(frameBytes, index & 0xff);
  frame.writeUInt32BE(index, 0);
  return frame;
}

/** The index of the first received frame that is not the next numbered frame, or -1 when all are. */
export function checkSequence(received: readonly Buffer[], frameBytes: number): number {
  return received.findIndex((data, index) => !data.equals(numberedFrame(index, frameBytes)));
}

/**
 * A client that sends `frameBytes` frames as fast as its own queue (bounded at 4 MiB) allows,
 * until the returned function stops it: for relays whose upstream stops reading.
 */
export function floodFromClient(client: WebSocket, frameBytes: number): () => void {
  const frame = Buffer.alloc(frameBytes, 1);
  const timer = setInterval(() => {
    for (let i = 0; i < 16 && client.bufferedAmount < 4 * 1024 * 1024; i++) client.send(frame);
  }, 5);
  return () => clearInterval(timer);
}

