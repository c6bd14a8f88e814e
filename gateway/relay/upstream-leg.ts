// The relay's upstream leg after the handshake: ws opens the connection (TLS, proxy, subprotocol,
// deadline), then the relay takes its socket over and speaks the frames itself. Upstream→client
// data frames are handed on verbatim in batches of complete frames (frame-parser.ts), without
// ws's receiver joining each message and the client's sender framing it again; pings are
// answered, pongs reported, the close handshake done here. What the gateway sends upstream is
// framed as a client must: masked with a fresh random key per frame.

import { randomFillSync } from 'node:crypto';
import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { FrameParser, type FrameSink } from './frame-parser.js';

export interface UpstreamLegHandlers {
  /**
   * Complete binary data frames, header and payload as received, in order; `payloadBytes` is
   * their payload only. The array is the handler's to keep.
   */
  onFrames(pieces: Buffer[], payloadBytes: number): void;
  /** The upstream started a text message (its bytes are dropped). */
  onText(): void;
  onPong(): void;
  /** The upstream broke the protocol; a close with `closeCode` has been sent to it. */
  onProtocolError(closeCode: 1002 | 1007 | 1009, detail: string): void;
  /** The connection is gone: the code of the upstream's close frame, 1005 if it had none, 1006 if it sent none. */
  onClose(code: number): void;
}

export interface UpstreamLegOptions {
  /** Largest upstream message accepted (1009 above it); by default the `maxPayload` ws was opened with. */
  maxMessageBytes?: number;
}

/** ws's `maxPayload` for this socket (0 = none), so the cap it was opened with still holds. */
function wsMaxPayload(ws: WebSocket): number | undefined {
  const max = (ws as unknown as { _receiver?: { _maxPayload?: unknown } })._receiver?._maxPayload;
  return typeof max === 'number' ? (max > 0 ? max : Number.MAX_SAFE_INTEGER) : undefined;
}

// ws's own default maxPayload.
const DEFAULT_MAX_MESSAGE_BYTES = 100 * 1024 * 1024;

const OPCODE = { binary: 0x2, close: 0x8, ping: 0x9, pong: 0xa } as const;

// Mask keys come from a pool refilled by one randomFillSync call per 2,048 frames, as ws does.
const MASK_POOL_BYTES = 8192;
let maskPool = Buffer.alloc(0);
let maskOffset = MASK_POOL_BYTES;

/** Encodes one final client→server frame: header, a random 4-byte mask key, masked payload. */
export function encodeMaskedFrame(opcode: number, payload: Buffer): Buffer {
  const length = payload.length;
  const lengthBytes = length < 126 ? 0 : length < 65536 ? 2 : 8;
  const headerLength = 2 + lengthBytes + 4;
  const frame = Buffer.allocUnsafe(headerLength + length);
  frame[0] = 0x80 | opcode;
  if (lengthBytes === 0) frame[1] = 0x80 | length;
  else if (lengthBytes === 2) {
    frame[1] = 0x80 | 126;
    frame.writeUInt16BE(length, 2);
  } else {
    frame[1] = 0x80 | 127;
    frame.writeUInt32BE(Math.floor(length / 0x1_0000_0000), 2);
    frame.writeUInt32BE(length >>> 0, 6);
  }
  if (maskOffset === MASK_POOL_BYTES) {
    maskPool = randomFillSync(Buffer.allocUnsafe(MASK_POOL_BYTES));
    maskOffset = 0;
  }
  const keyAt = headerLength - 4;
  maskPool.copy(frame, keyAt, maskOffset, maskOffset + 4);
  maskOffset += 4;
  const k0 = frame[keyAt]!;
  const k1 = frame[keyAt + 1]!;
  const k2 = frame[keyAt + 2]!;
  const k3 = frame[keyAt + 3]!;
  let i = 0;
  for (; i + 3 < length; i += 4) {
    frame[headerLength + i] = payload[i]! ^ k0;
    frame[headerLength + i + 1] = payload[i + 1]! ^ k1;
    frame[headerLength + i + 2] = payload[i + 2]! ^ k2;
    frame[headerLength + i + 3] = payload[i + 3]! ^ k3;
  }
  for (; i < length; i++) frame[headerLength + i] = payload[i]! ^ frame[keyAt + (i & 3)]!;
  return frame;
}

/** The socket under a ws WebSocket (ws keeps it in `_socket`; not part of its typed API). */
export function socketOf(ws: WebSocket): Duplex | undefined {
  return (ws as unknown as { _socket?: Duplex | null })._socket ?? undefined;
}

// The listeners ws attaches to its socket in setSocket (ws/lib/websocket.js, 8.x).
const WS_SOCKET_LISTENERS: Readonly<Record<string, string>> = { data: 'socketOnData', end: 'socketOnEnd', close: 'socketOnClose', error: 'socketOnError' };

/**
 * Detaches ws from an open, paused upstream WebSocket and returns the leg that reads and writes
 * its socket from now on. Bytes that arrived with the handshake stay queued in the socket.
 * The ws object is left behind as it was: it stays OPEN and never emits 'close' or 'message'
 * again, so nothing may listen to it or send through it after the takeover.
 * Throws if ws's socket listeners are not where ws 8 puts them: two parsers on one stream
 * would corrupt it, so an incompatible ws must fail loudly, not subtly.
 */
export function takeOverUpstream(ws: WebSocket, handlers: UpstreamLegHandlers, options: UpstreamLegOptions = {}): UpstreamLeg {
  const socket = socketOf(ws);
  if (socket === undefined) throw new Error('upstream WebSocket has no socket');
  for (const [event, name] of Object.entries(WS_SOCKET_LISTENERS)) {
    const found = socket.listeners(event).filter((listener) => listener.name === name);
    if (event === 'data' && found.length !== 1 && ws.readyState === ws.OPEN) throw new Error('ws socket listeners not found; incompatible ws version');
    for (const listener of found) socket.removeListener(event, listener as (...args: unknown[]) => void);
  }
  const maxMessageBytes = options.maxMessageBytes ?? wsMaxPayload(ws) ?? DEFAULT_MAX_MESSAGE_BYTES;
  return new UpstreamLeg(socket, handlers, { maxMessageBytes }, ws.readyState === ws.OPEN);
}

/** One upstream connection, spoken frame by frame by the relay. */
export class UpstreamLeg implements FrameSink {
  private readonly parser: FrameParser;
  private pending: Buffer[] = [];
  /** How many of `pending` belong to complete frames, and their payload bytes. */
  private ready = 0;
  private readyPayload = 0;
  private closeSent = false;
  private closeReceived = false;
  private closeCode = 1006;
  private closed = false;

  constructor(
    private readonly socket: Duplex,
    private readonly handlers: UpstreamLegHandlers,
    options: UpstreamLegOptions,
    open = true,
  ) {
    this.parser = new FrameParser(this, { maxMessageBytes: options.maxMessageBytes ?? DEFAULT_MAX_MESSAGE_BYTES });
    socket.on('data', this.onSocketData);
    socket.on('end', this.onSocketEnd);
    socket.on('close', this.onSocketClose);
    // 'close' follows every error; nothing to add here.
    socket.on('error', () => undefined);
    if (!open || socket.destroyed) {
      // Lost during setup: reported asynchronously, like every other close, once the relay is wired up.
      socket.destroy();
      queueMicrotask(() => this.onSocketClose());
    }
  }

  /** Bytes queued for the upstream and not yet handed to the kernel. */
  get bufferedAmount(): number {
    return this.socket.writableLength;
  }

  /** Sends one binary message upstream (masked). `callback` runs once it reached the kernel. */
  send(payload: Buffer, callback?: () => void): void {
    if (this.closeSent || !this.socket.writable) return;
    this.socket.write(encodeMaskedFrame(OPCODE.binary, payload), callback);
  }

  ping(): void {
    if (this.closeSent || !this.socket.writable) return;
    this.socket.write(encodeMaskedFrame(OPCODE.ping, EMPTY));
  }

  /** Starts (or completes) the close handshake with `code`; a second call does nothing. */
  close(code: number): void {
    if (this.closeSent) return;
    this.closeSent = true;
    if (this.socket.writable) {
      const payload = Buffer.allocUnsafe(2);
      payload.writeUInt16BE(code, 0);
      this.socket.write(encodeMaskedFrame(OPCODE.close, payload));
    }
    if (this.closeReceived) this.socket.end();
  }

  terminate(): void {
    this.socket.destroy();
  }

  pause(): void {
    this.socket.pause();
  }

  resume(): void {
    this.socket.resume();
  }

  private readonly onSocketData = (chunk: Buffer): void => {
    this.parser.push(chunk);
    this.flush();
  };

  private readonly onSocketEnd = (): void => {
    // The upstream half-closed without (or after) its close frame: finish our side too.
    this.socket.end();
  };

  private readonly onSocketClose = (): void => {
    if (this.closed) return;
    this.closed = true;
    this.parser.stop();
    this.pending = [];
    this.handlers.onClose(this.closeCode);
  };

  /** Hands on every complete frame gathered so far. */
  private flush(): void {
    if (this.ready === 0) return;
    let pieces: Buffer[];
    if (this.ready === this.pending.length) {
      pieces = this.pending;
      this.pending = [];
    } else {
      pieces = this.pending.slice(0, this.ready);
      this.pending = this.pending.slice(this.ready);
    }
    const payload = this.readyPayload;
    this.ready = 0;
    this.readyPayload = 0;
    this.handlers.onFrames(pieces, payload);
  }

  // FrameSink: called by the parser.

  onDataPiece(piece: Buffer): void {
    this.pending.push(piece);
  }

  onDataFrameEnd(payloadBytes: number): void {
    this.ready = this.pending.length;
    this.readyPayload += payloadBytes;
  }

  onTextMessage(): void {
    this.flush();
    this.handlers.onText();
  }

  onControl(opcode: number, payload: Buffer): void {
    // Frames before a control frame go first, so a close never overtakes the data before it.
    this.flush();
    if (opcode === OPCODE.ping) {
      if (!this.closeSent && this.socket.writable) this.socket.write(encodeMaskedFrame(OPCODE.pong, payload));
      return;
    }
    if (opcode === OPCODE.pong) {
      this.handlers.onPong();
      return;
    }
    // Close: nothing after it is read (RFC 6455 §5.5.1: the endpoint sends no more data frames);
    // answer with the same code (an empty close for none), then end our side.
    this.parser.stop();
    this.closeReceived = true;
    this.closeCode = payload.length >= 2 ? payload.readUInt16BE(0) : 1005;
    if (!this.closeSent) {
      this.closeSent = true;
      if (this.socket.writable) this.socket.write(encodeMaskedFrame(OPCODE.close, payload.length >= 2 ? payload.subarray(0, 2) : EMPTY));
    }
    this.socket.end();
  }

  onProtocolError(closeCode: 1002 | 1007 | 1009, detail: string): void {
    this.flush();
    this.pending = [];
    this.close(closeCode);
    // As ws does: no more reading of a broken stream; the upstream ends the TCP connection.
    this.socket.end();
    this.handlers.onProtocolError(closeCode, detail);
  }
}

const EMPTY = Buffer.alloc(0);
