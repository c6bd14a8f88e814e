// A small in-process RFB 3.8 server (RFC 6143): security None, Raw encoding, a live test pattern, input recording.

import type { Rect } from './framebuffer.js';
import { createTestPattern } from './test-pattern.js';

/** One input message the server received from the viewer. */
export type InputEvent =
  | { type: 'key'; atMs: number; down: boolean; keysym: number }
  | { type: 'pointer'; atMs: number; x: number; y: number; buttonMask: number }
  | { type: 'cut-text'; atMs: number; text: string };

/** Options for {@link createRfbServer}. */
export interface RfbServerOptions {
  /** Desktop name sent in ServerInit (the instance id). */
  name: string;
  width?: number;
  height?: number;
  /** Writes bytes to the viewer. */
  send(data: Buffer): void;
  /** Called once when the server itself ends the connection (protocol error); not called by close(). */
  onEnd?(reason: string): void;
  onInput?(event: InputEvent): void;
  /** True while the transport is congested: pending updates wait for a later frame. */
  isBackedUp?(): boolean;
  /** Clock for input timestamps (the animation uses real time so it moves even under a frozen test clock). */
  now?: () => number;
  /** How often the picture is redrawn (default 250 ms). */
  frameIntervalMs?: number;
}

/** One server-side RFB connection, fed bytes by whatever transport carries it. */
export interface RfbServer {
  /** Feeds bytes received from the viewer. Never throws: protocol errors end the connection. */
  receive(chunk: Buffer): void;
  /**
   * Sends ServerCutText (RFC 6143 §7.6.4): text "copied on the remote machine". Latin-1, as the
   * plain message carries; ignored until the viewer finished its initialisation.
   */
  sendCutText(text: string): void;
  /** Stops the server (the transport went away). */
  close(): void;
  readonly closed: boolean;
}

interface PixelFormat {
  bitsPerPixel: number;
  bigEndian: boolean;
  redLut: Uint32Array;
  greenLut: Uint32Array;
  blueLut: Uint32Array;
}

const TILE = 32;
// ClientCutText larger than this is treated as hostile: noVNC never sends anything near it.
const MAX_CUT_TEXT = 1024 * 1024;
const MAX_TYPED = 256;

function channelLut(max: number, shift: number): Uint32Array {
  const lut = new Uint32Array(256);
  for (let c = 0; c < 256; c++) lut[c] = (Math.round((c * max) / 255) << shift) >>> 0;
  return lut;
}

function makePixelFormat(bitsPerPixel: number, bigEndian: boolean, max: [number, number, number], shift: [number, number, number]): PixelFormat {
  return {
    bitsPerPixel,
    bigEndian,
    redLut: channelLut(max[0], shift[0]),
    greenLut: channelLut(max[1], shift[1]),
    blueLut: channelLut(max[2], shift[2]),
  };
}

class ProtocolError extends Error {}

/** Creates the server side of one RFB connection and sends the ProtocolVersion greeting at once. */
export function createRfbServer(options: RfbServerOptions): RfbServer {
  const width = options.width ?? 800;
  const height = options.height ?? 600;
  const now = options.now ?? Date.now;
  const frameIntervalMs = options.frameIntervalMs ?? 250;
  const pattern = createTestPattern(width, height, options.name);
  const startedAt = performance.now();
  // What the viewer has been sent; 0xff in the unused byte never matches a rendered pixel, so
  // everything counts as changed until it has been sent once.
  const viewerFb = Buffer.alloc(width * height * 4, 0xff);

  let state: 'version' | 'security' | 'client-init' | 'normal' | 'closed' = 'version';
  let minor = 8;
  let pending = Buffer.alloc(0);
  let format = makePixelFormat(32, false, [255, 255, 255], [16, 8, 0]);
  let waiting: Rect | undefined;
  let timer: NodeJS.Timeout | undefined;
  let renderScheduled = false;
  const input: { pointer?: { x: number; y: number; buttonMask: number }; typed: string } = { typed: '' };

  const send = (data: Buffer): void => {
    if (state !== 'closed') options.send(data);
  };

  const stop = (): void => {
    state = 'closed';
    if (timer !== undefined) clearInterval(timer);
    timer = undefined;
    pending = Buffer.alloc(0);
  };

  const fail = (reason: string): void => {
    if (state === 'closed') return;
    stop();
    options.onEnd?.(reason);
  };

  const render = (): void => {
    pattern.render(performance.now() - startedAt, input);
  };

  const dirtyRects = (region: Rect): Rect[] => {
    const frame = pattern.frame.pixels;
    const rects: Rect[] = [];
    const x1 = region.x + region.w;
    const y1 = region.y + region.h;
    for (let ty = Math.floor(region.y / TILE) * TILE; ty < y1; ty += TILE) {
      const top = Math.max(ty, region.y);
      const bottom = Math.min(ty + TILE, y1);
      let runStart = -1;
      const flush = (end: number): void => {
        if (runStart >= 0) rects.push({ x: runStart, y: top, w: end - runStart, h: bottom - top });
        runStart = -1;
      };
      for (let tx = Math.floor(region.x / TILE) * TILE; tx < x1; tx += TILE) {
        const left = Math.max(tx, region.x);
        const right = Math.min(tx + TILE, x1);
        let dirty = false;
        for (let row = top; row < bottom && !dirty; row++) {
          const start = (row * width + left) * 4;
          const end = (row * width + right) * 4;
          dirty = frame.compare(viewerFb, start, end, start, end) !== 0;
        }
        if (dirty && runStart < 0) runStart = left;
        if (!dirty) flush(left);
      }
      flush(Math.min(x1, width));
    }
    return rects;
  };

  const sendUpdate = (rects: readonly Rect[]): void => {
    const bpp = format.bitsPerPixel / 8;
    let size = 4;
    for (const r of rects) size += 12 + r.w * r.h * bpp;
    const out = Buffer.allocUnsafe(size);
    out.writeUInt8(0, 0);
    out.writeUInt8(0, 1);
    out.writeUInt16BE(rects.length, 2);
    let o = 4;
    const frame = pattern.frame.pixels;
    const { redLut, greenLut, blueLut, bigEndian } = format;
    for (const r of rects) {
      out.writeUInt16BE(r.x, o);
      out.writeUInt16BE(r.y, o + 2);
      out.writeUInt16BE(r.w, o + 4);
      out.writeUInt16BE(r.h, o + 6);
      out.writeInt32BE(0, o + 8); // Raw
      o += 12;
      for (let row = r.y; row < r.y + r.h; row++) {
        const rowStart = (row * width + r.x) * 4;
        for (let i = rowStart; i < rowStart + r.w * 4; i += 4) {
          const value = ((redLut[frame[i] ?? 0] ?? 0) | (greenLut[frame[i + 1] ?? 0] ?? 0) | (blueLut[frame[i + 2] ?? 0] ?? 0)) >>> 0;
          if (bpp === 4) {
            if (bigEndian) out.writeUInt32BE(value, o);
            else out.writeUInt32LE(value, o);
          } else if (bpp === 2) {
            if (bigEndian) out.writeUInt16BE(value & 0xffff, o);
            else out.writeUInt16LE(value & 0xffff, o);
          } else {
            out.writeUInt8(value & 0xff, o);
          }
          o += bpp;
        }
        frame.copy(viewerFb, rowStart, rowStart, rowStart + r.w * 4);
      }
    }
    send(out);
  };

  // Answers the outstanding incremental request if something in it changed and the transport has room.
  const serviceWaiting = (): void => {
    if (waiting === undefined || state !== 'normal' || options.isBackedUp?.() === true) return;
    const rects = dirtyRects(waiting);
    if (rects.length === 0) return;
    waiting = undefined;
    sendUpdate(rects.slice(0, 65535));
  };

  const scheduleRender = (): void => {
    if (renderScheduled) return;
    renderScheduled = true;
    setImmediate(() => {
      renderScheduled = false;
      if (state !== 'normal') return;
      render();
      serviceWaiting();
    });
  };

  const record = (event: InputEvent): void => {
    options.onInput?.(event);
  };

  const serverInit = (): Buffer => {
    const name = Buffer.from(options.name, 'utf8');
    const out = Buffer.alloc(24 + name.length);
    out.writeUInt16BE(width, 0);
    out.writeUInt16BE(height, 2);
    // 32 bpp, depth 24, little-endian, true colour, max 255, shifts 16/8/0.
    Buffer.from([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]).copy(out, 4);
    out.writeUInt32BE(name.length, 20);
    name.copy(out, 24);
    return out;
  };

  // Consumes as many complete messages as `pending` holds; returns when more bytes are needed.
  const process = (): void => {
    for (;;) {
      if (state === 'version') {
        if (pending.length < 12) return;
        const text = pending.subarray(0, 12).toString('latin1');
        pending = pending.subarray(12);
        const match = /^RFB (\d{3})\.(\d{3})\n$/.exec(text);
        if (match === null || Number(match[1]) !== 3) throw new ProtocolError(`bad ProtocolVersion ${JSON.stringify(text)}`);
        const clientMinor = Number(match[2]);
        // RFC 6143 §7.1.1: anything below 3.7 (other than 3.7/3.8) is treated as 3.3.
        minor = clientMinor >= 8 ? 8 : clientMinor === 7 ? 7 : 3;
        if (minor === 3) {
          const out = Buffer.alloc(4);
          out.writeUInt32BE(1, 0); // the server decides: None
          send(out);
          state = 'client-init';
        } else {
          send(Buffer.from([1, 1])); // one security type: None
          state = 'security';
        }
      } else if (state === 'security') {
        if (pending.length < 1) return;
        const chosen = pending[0];
        pending = pending.subarray(1);
        if (chosen !== 1) {
          if (minor === 8) {
            const reason = Buffer.from('only security type None (1) is offered');
            const out = Buffer.alloc(8 + reason.length);
            out.writeUInt32BE(1, 0);
            out.writeUInt32BE(reason.length, 4);
            reason.copy(out, 8);
            send(out);
          }
          throw new ProtocolError(`client chose security type ${String(chosen)}`);
        }
        if (minor === 8) send(Buffer.from([0, 0, 0, 0])); // SecurityResult OK
        state = 'client-init';
      } else if (state === 'client-init') {
        if (pending.length < 1) return;
        pending = pending.subarray(1); // shared flag: every session has its own screen anyway
        render();
        send(serverInit());
        state = 'normal';
        timer = setInterval(() => {
          if (state !== 'normal') return;
          render();
          serviceWaiting();
        }, frameIntervalMs);
        timer.unref();
      } else if (state === 'normal') {
        if (pending.length < 1) return;
        const type = pending[0];
        const need = (n: number): boolean => pending.length >= n;
        if (type === 0) {
          if (!need(20)) return;
          const m = pending.subarray(0, 20);
          const bitsPerPixel = m.readUInt8(4);
          const trueColour = m.readUInt8(7);
          if (![8, 16, 32].includes(bitsPerPixel)) throw new ProtocolError(`unsupported bits-per-pixel ${bitsPerPixel}`);
          if (trueColour === 0) throw new ProtocolError('colour-map pixel formats are not supported');
          const max: [number, number, number] = [m.readUInt16BE(8), m.readUInt16BE(10), m.readUInt16BE(12)];
          const shift: [number, number, number] = [m.readUInt8(14), m.readUInt8(15), m.readUInt8(16)];
          if (max.some((v) => v === 0) || shift.some((s) => s >= bitsPerPixel)) throw new ProtocolError('invalid pixel format');
          format = makePixelFormat(bitsPerPixel, m.readUInt8(6) !== 0, max, shift);
          pending = pending.subarray(20);
        } else if (type === 2) {
          if (!need(4)) return;
          const count = pending.readUInt16BE(2);
          if (!need(4 + 4 * count)) return;
          // Raw is always available; other encodings are ignored, as RFC 6143 allows.
          pending = pending.subarray(4 + 4 * count);
        } else if (type === 3) {
          if (!need(10)) return;
          const incremental = pending.readUInt8(1) !== 0;
          const x = Math.min(pending.readUInt16BE(2), width);
          const y = Math.min(pending.readUInt16BE(4), height);
          const w = Math.min(pending.readUInt16BE(6), width - x);
          const h = Math.min(pending.readUInt16BE(8), height - y);
          pending = pending.subarray(10);
          const region = { x, y, w, h };
          if (w === 0 || h === 0) continue;
          if (incremental) {
            waiting = waiting === undefined ? region : union(waiting, region);
            serviceWaiting();
          } else {
            waiting = undefined;
            sendUpdate([region]);
          }
        } else if (type === 4) {
          if (!need(8)) return;
          const down = pending.readUInt8(1) !== 0;
          const keysym = pending.readUInt32BE(4);
          pending = pending.subarray(8);
          record({ type: 'key', atMs: now(), down, keysym });
          if (down) {
            if ((keysym >= 0x20 && keysym <= 0x7e) || (keysym >= 0xa0 && keysym <= 0xff)) input.typed += String.fromCharCode(keysym);
            else if (keysym === 0xff08) input.typed = input.typed.slice(0, -1);
            else if (keysym === 0xff0d || keysym === 0xff09) input.typed += ' ';
            input.typed = input.typed.slice(-MAX_TYPED);
            scheduleRender();
          }
        } else if (type === 5) {
          if (!need(6)) return;
          const buttonMask = pending.readUInt8(1);
          const x = pending.readUInt16BE(2);
          const y = pending.readUInt16BE(4);
          pending = pending.subarray(6);
          record({ type: 'pointer', atMs: now(), x, y, buttonMask });
          input.pointer = { x, y, buttonMask };
          scheduleRender();
        } else if (type === 6) {
          if (!need(8)) return;
          const length = pending.readInt32BE(4);
          // A negative length is the Extended Clipboard form, which this server never advertised.
          if (length < 0 || length > MAX_CUT_TEXT) throw new ProtocolError(`ClientCutText length ${length} refused`);
          if (!need(8 + length)) return;
          const text = pending.subarray(8, 8 + length).toString('latin1');
          pending = pending.subarray(8 + length);
          record({ type: 'cut-text', atMs: now(), text });
        } else {
          throw new ProtocolError(`unknown client message type ${String(type)}`);
        }
      } else {
        return;
      }
    }
  };

  send(Buffer.from('RFB 003.008\n', 'latin1'));

  return {
    receive(chunk) {
      if (state === 'closed') return;
      pending = pending.length === 0 ? Buffer.from(chunk) : Buffer.concat([pending, chunk]);
      try {
        process();
      } catch (error) {
        fail(error instanceof Error ? error.message : String(error));
      }
    },
    sendCutText(text) {
      if (state !== 'normal') return;
      const body = Buffer.from(text, 'latin1');
      const header = Buffer.alloc(8);
      header[0] = 3;
      header.writeUInt32BE(body.length, 4);
      send(Buffer.concat([header, body]));
    },
    close() {
      stop();
    },
    get closed() {
      return state === 'closed';
    },
  };
}

function union(a: Rect, b: Rect): Rect {
  const x = Math.min(a.x, b.x);
  const y = Math.min(a.y, b.y);
  return { x, y, w: Math.max(a.x + a.w, b.x + b.w) - x, h: Math.max(a.y + a.h, b.y + b.h) - y };
}
