// Raw HTTP and WebSocket bytes over net.Socket, for tests that must send what a well-behaved
// client (the ws library, fetch) refuses to: broken handshakes, oversized headers, bad frames.

import { randomBytes } from 'node:crypto';
import { connect, type Socket } from 'node:net';

/** Everything the server sent on one connection, and how it ended. */
export interface RawExchange {
  /** The status code of the first response line, when there was one. */
  status: number | undefined;
  /** All bytes received, as latin1 text (headers are ASCII; bodies here are JSON). */
  text: string;
}

/**
 * Sends `request` on a fresh connection and collects everything until the server closes it, or
 * until `ms` pass (then the connection is dropped and what arrived so far is returned). A
 * server that never answers leaves `status` undefined, which the caller treats as a failure.
 */
export function rawExchange(port: number, request: string | Buffer, ms = 5000): Promise<RawExchange> {
  return new Promise((resolve) => {
    const socket = connect(port, '127.0.0.1');
    const chunks: Buffer[] = [];
    const finish = (): void => {
      clearTimeout(timer);
      socket.destroy();
      const text = Buffer.concat(chunks).toString('latin1');
      const status = /^HTTP\/1\.[01] (\d{3})/.exec(text)?.[1];
      resolve({ status: status === undefined ? undefined : Number(status), text });
    };
    const timer = setTimeout(finish, ms);
    socket.on('data', (chunk) => {
      chunks.push(chunk);
      // A keep-alive connection stays open after a complete response: stop there.
      if (responseComplete(Buffer.concat(chunks))) finish();
    });
    socket.on('close', finish);
    socket.on('error', () => undefined);
    // The server may answer and close before all of a large request is written: that is fine.
    socket.write(request, () => undefined);
  });
}

function responseComplete(received: Buffer): boolean {
  const end = received.indexOf('\r\n\r\n');
  if (end === -1) return false;
  const length = /\r\ncontent-length: *(\d+)/i.exec(received.subarray(0, end).toString('latin1'))?.[1];
  return length !== undefined && received.length - (end + 4) >= Number(length);
}

/** The JSON body of an HTTP response collected by rawExchange, if it has one. */
export function jsonBody(exchange: RawExchange): unknown {
  const body = exchange.text.split('\r\n\r\n').slice(1).join('\r\n\r\n');
  try {
    return JSON.parse(body);
  } catch {
    return undefined;
  }
}

/** A frame the server sent. */
export interface ServerFrame {
  fin: boolean;
  opcode: number;
  payload: Buffer;
}

export interface FrameOptions {
  fin?: boolean;
  /** The three RSV bits as a number 0–7. */
  rsv?: number;
  /** Clients must mask (RFC 6455 §5.1); false sends an unmasked frame. */
  masked?: boolean;
  /** Announce this length instead of the payload's (to claim a huge frame without sending it). */
  announcedLength?: bigint;
}

/** Encodes one client frame, masked by default. */
export function encodeFrame(opcode: number, payload: Buffer, options: FrameOptions = {}): Buffer {
  const { fin = true, rsv = 0, masked = true } = options;
  const length = options.announcedLength ?? BigInt(payload.length);
  const head: number[] = [(fin ? 0x80 : 0) | ((rsv & 7) << 4) | (opcode & 0x0f)];
  const maskBit = masked ? 0x80 : 0;
  let extended = Buffer.alloc(0);
  if (length < 126n) {
    head.push(maskBit | Number(length));
  } else if (length < 65536n) {
    head.push(maskBit | 126);
    extended = Buffer.alloc(2);
    extended.writeUInt16BE(Number(length));
  } else {
    head.push(maskBit | 127);
    extended = Buffer.alloc(8);
    extended.writeBigUInt64BE(length);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), extended, payload]);
  const mask = randomBytes(4);
  const body = Buffer.from(payload);
  for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ mask[i % 4]!;
  return Buffer.concat([Buffer.from(head), extended, mask, body]);
}

/** A close frame's payload: the code, then the reason bytes. */
export function closePayload(code: number, reason: Buffer = Buffer.alloc(0)): Buffer {
  const payload = Buffer.alloc(2 + reason.length);
  payload.writeUInt16BE(code);
  reason.copy(payload, 2);
  return payload;
}

/** One raw WebSocket connection after a successful (101) handshake. */
export interface RawWebSocket {
  socket: Socket;
  /** Frames received so far, in order. */
  frames: ServerFrame[];
  send(bytes: Buffer): void;
  /** The first close frame from the server (code undefined for an empty payload), or undefined if the TCP connection ended without one. */
  closed: Promise<{ code: number | undefined; reason: string } | undefined>;
}

/**
 * Performs the WebSocket handshake by hand and parses server frames as they arrive. On the
 * server's close frame it answers with a close frame and ends the connection, as a polite
 * client would, so the server is never left waiting for its close timeout.
 */
export function openRawWebSocket(port: number, path: string, headers: Record<string, string>, ms = 5000): Promise<RawWebSocket> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1');
    socket.on('error', () => undefined);
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new Error(`no handshake answer within ${ms} ms`));
    }, ms);
    let buffered = Buffer.alloc(0);
    let upgraded = false;
    const frames: ServerFrame[] = [];
    let settleClosed: (value: { code: number | undefined; reason: string } | undefined) => void = () => undefined;
    const closed = new Promise<{ code: number | undefined; reason: string } | undefined>((r) => (settleClosed = r));
    socket.on('close', () => {
      clearTimeout(timer);
      settleClosed(undefined);
      if (!upgraded) reject(new Error(`connection closed before the handshake finished: ${buffered.toString('latin1').slice(0, 200)}`));
    });

    const parseFrames = (): void => {
      for (;;) {
        if (buffered.length < 2) return;
        const first = buffered[0]!;
        const second = buffered[1]!;
        let length = second & 0x7f;
        let offset = 2;
        if (length === 126) {
          if (buffered.length < 4) return;
          length = buffered.readUInt16BE(2);
          offset = 4;
        } else if (length === 127) {
          if (buffered.length < 10) return;
          length = Number(buffered.readBigUInt64BE(2));
          offset = 10;
        }
        if (buffered.length < offset + length) return;
        const frame = { fin: (first & 0x80) !== 0, opcode: first & 0x0f, payload: buffered.subarray(offset, offset + length) };
        buffered = buffered.subarray(offset + length);
        frames.push(frame);
        if (frame.opcode === 0x8) {
          const code = frame.payload.length >= 2 ? frame.payload.readUInt16BE(0) : undefined;
          settleClosed({ code, reason: frame.payload.subarray(2).toString('utf8') });
          socket.end(encodeFrame(0x8, frame.payload.subarray(0, 2)));
        }
      }
    };

    socket.on('data', (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      if (!upgraded) {
        const end = buffered.indexOf('\r\n\r\n');
        if (end === -1) return;
        const head = buffered.subarray(0, end).toString('latin1');
        buffered = buffered.subarray(end + 4);
        if (!/^HTTP\/1\.1 101 /.test(head)) {
          clearTimeout(timer);
          socket.destroy();
          reject(new Error(`handshake refused: ${head.split('\r\n')[0]}`));
          return;
        }
        upgraded = true;
        clearTimeout(timer);
        resolve({ socket, frames, send: (bytes) => void socket.write(bytes), closed });
      }
      parseFrames();
    });

    const lines = [
      `GET ${path} HTTP/1.1`,
      `Host: 127.0.0.1:${port}`,
      'Upgrade: websocket',
      'Connection: Upgrade',
      `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
      'Sec-WebSocket-Version: 13',
      ...Object.entries(headers).map(([name, value]) => `${name}: ${value}`),
    ];
    socket.write(`${lines.join('\r\n')}\r\n\r\n`);
  });
}
