// Connects an accepted VNC WebSocket to its target (built-in RFB server, echo, or TCP) with backpressure both ways.

import { connect } from 'node:net';
import type { RawData, WebSocket } from 'ws';
import { createRfbServer, type InputEvent, type RfbServer } from './rfb-server.js';

// Pause the producer when more than HIGH bytes wait in the WebSocket; resume below LOW.
const HIGH_WATER = 1024 * 1024;
const LOW_WATER = 256 * 1024;
const NORMAL = 1000;

/** Normalises ws message data to one Buffer. */
function toBuffer(data: RawData): Buffer {
  if (Buffer.isBuffer(data)) return data;
  if (Array.isArray(data)) return Buffer.concat(data);
  return Buffer.from(data);
}

/** Closes a WebSocket if it is still open; the reason is cut to the 123 bytes a close frame allows. */
export function closeSocket(ws: WebSocket, code: number, reason: string): void {
  if (ws.readyState === ws.OPEN) ws.close(code, Buffer.from(reason).subarray(0, 123).toString());
}

/** Every message comes back unchanged (same bytes, same frame type). */
export function bridgeToEcho(ws: WebSocket): void {
  ws.on('message', (data, isBinary) => {
    ws.send(data, { binary: isBinary }, () => {
      if (ws.isPaused && ws.bufferedAmount < LOW_WATER) ws.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) ws.pause();
  });
}

/** Serves the built-in RFB server over the WebSocket; input is reported through `onInput`. */
export function bridgeToBuiltin(ws: WebSocket, name: string, onInput: (event: InputEvent) => void): RfbServer {
  const rfb = createRfbServer({
    name,
    send: (data) => ws.send(data),
    onEnd: (reason) => closeSocket(ws, NORMAL, `RFB: ${reason}`),
    onInput,
    isBackedUp: () => ws.bufferedAmount > HIGH_WATER,
  });
  ws.on('message', (data, isBinary) => {
    // websockify-style upstreams carry RFB in binary frames only.
    if (!isBinary) return closeSocket(ws, 1003, 'binary frames only');
    rfb.receive(toBuffer(data));
  });
  ws.on('close', () => rfb.close());
  return rfb;
}

/** Relays to a TCP VNC server (e.g. x11vnc); either side closing ends the other. */
export function bridgeToTcp(ws: WebSocket, host: string, port: number): void {
  const tcp = connect({ host, port });
  tcp.setNoDelay(true);
  let failed = false;
  tcp.on('data', (chunk: Buffer) => {
    ws.send(chunk, () => {
      if (tcp.isPaused() && ws.bufferedAmount < LOW_WATER) tcp.resume();
    });
    if (ws.bufferedAmount > HIGH_WATER) tcp.pause();
  });
  tcp.on('drain', () => ws.resume());
  tcp.on('error', () => {
    failed = true;
    closeSocket(ws, 1011, `VNC server ${host}:${port} failed`);
  });
  tcp.on('close', () => {
    if (!failed) closeSocket(ws, NORMAL, 'VNC server closed the connection');
  });
  ws.on('message', (data, isBinary) => {
    if (!isBinary) return closeSocket(ws, 1003, 'binary frames only');
    if (!tcp.write(toBuffer(data))) ws.pause();
  });
  ws.on('close', () => {
    tcp.end();
    // A VNC server that never finishes its side must not keep the socket alive.
    setTimeout(() => tcp.destroy(), 1000).unref();
  });
}
