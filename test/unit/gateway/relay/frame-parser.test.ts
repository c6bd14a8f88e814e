// The pass-through frame parser: data frames handed out byte-exact however the stream is split,
// control frames collected and ordered with the data, and every frame a server must not send refused.

import { describe, expect, it } from 'vitest';
import { FrameParser, type FrameSink } from '../../../../gateway/relay/frame-parser.js';

interface FrameSpec {
  opcode: number;
  payload: Buffer;
  fin?: boolean;
  mask?: boolean;
  rsv?: number;
  /** Force the 64-bit length form. */
  long?: boolean;
}

/** Encodes one frame as a server (or, with `mask`, a client) would. */
function frame({ opcode, payload, fin = true, mask = false, rsv = 0, long = false }: FrameSpec): Buffer {
  const length = payload.length;
  const ext = long || length > 65535 ? 8 : length > 125 ? 2 : 0;
  const header = Buffer.alloc(2 + ext + (mask ? 4 : 0));
  header[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  header[1] = (mask ? 0x80 : 0) | (ext === 8 ? 127 : ext === 2 ? 126 : length);
  if (ext === 2) header.writeUInt16BE(length, 2);
  if (ext === 8) header.writeBigUInt64BE(BigInt(length), 2);
  return Buffer.concat([header, payload]);
}

type Event = { type: 'end'; payloadBytes: number; fin: boolean } | { type: 'control'; opcode: number; payload: string } | { type: 'text' } | { type: 'error'; code: number };

function recorder(): { sink: FrameSink; events: Event[]; forwarded: () => Buffer; pieces: Buffer[] } {
  const events: Event[] = [];
  const pieces: Buffer[] = [];
  return {
    events,
    pieces,
    forwarded: () => Buffer.concat(pieces),
    sink: {
      onDataPiece: (piece) => void pieces.push(Buffer.from(piece)),
      onDataFrameEnd: (payloadBytes, fin) => void events.push({ type: 'end', payloadBytes, fin }),
      onTextMessage: () => void events.push({ type: 'text' }),
      onControl: (opcode, payload) => void events.push({ type: 'control', opcode, payload: payload.toString('hex') }),
      onProtocolError: (code) => void events.push({ type: 'error', code }),
    },
  };
}

function parse(chunks: Buffer[], maxMessageBytes = 1 << 20): ReturnType<typeof recorder> {
  const r = recorder();
  const parser = new FrameParser(r.sink, { maxMessageBytes });
  for (const chunk of chunks) parser.push(chunk);
  return r;
}

const bytes = (n: number, fill: number): Buffer => Buffer.alloc(n, fill);
const closePayload = (code: number, reason = ''): Buffer => Buffer.concat([Buffer.from([code >> 8, code & 0xff]), Buffer.from(reason)]);

// A stream with every length form, a fragmented message with control frames between its
// fragments, an empty frame, and a close at the end.
const dataFrames = [
  frame({ opcode: 2, payload: bytes(5, 1) }),
  frame({ opcode: 2, payload: bytes(200, 2) }),
  frame({ opcode: 2, payload: bytes(70_000, 3) }),
  frame({ opcode: 2, payload: bytes(7, 4), long: true }),
  frame({ opcode: 2, payload: bytes(10, 5), fin: false }),
  frame({ opcode: 0, payload: bytes(0, 0), fin: false }),
  frame({ opcode: 0, payload: bytes(300, 6), fin: true }),
];
const ping = frame({ opcode: 9, payload: Buffer.from('hi') });
const pong = frame({ opcode: 10, payload: Buffer.alloc(0) });
const close = frame({ opcode: 8, payload: closePayload(1000, 'bye') });
const stream = Buffer.concat([dataFrames[0]!, dataFrames[1]!, dataFrames[2]!, dataFrames[3]!, dataFrames[4]!, ping, dataFrames[5]!, pong, dataFrames[6]!, close]);
const expectedEvents: Event[] = [
  { type: 'end', payloadBytes: 5, fin: true },
  { type: 'end', payloadBytes: 200, fin: true },
  { type: 'end', payloadBytes: 70_000, fin: true },
  { type: 'end', payloadBytes: 7, fin: true },
  { type: 'end', payloadBytes: 10, fin: false },
  { type: 'control', opcode: 9, payload: Buffer.from('hi').toString('hex') },
  { type: 'end', payloadBytes: 0, fin: false },
  { type: 'control', opcode: 10, payload: '' },
  { type: 'end', payloadBytes: 300, fin: true },
  { type: 'control', opcode: 8, payload: closePayload(1000, 'bye').toString('hex') },
];

describe('the pass-through frame parser', () => {
  it('hands out data frames byte for byte and control frames in order, in one chunk', () => {
    const r = parse([stream]);
    expect(r.events).toEqual(expectedEvents);
    expect(r.forwarded().equals(Buffer.concat(dataFrames))).toBe(true);
  });

  it('gives the same result when the stream is split in two at every offset', () => {
    // The 70,000-byte frame would make this slow; the split offsets that matter are around headers.
    const small = Buffer.concat([dataFrames[0]!, dataFrames[1]!, dataFrames[3]!, dataFrames[4]!, ping, dataFrames[5]!, pong, dataFrames[6]!, close]);
    const whole = parse([small]);
    for (let at = 0; at <= small.length; at++) {
      const r = parse([small.subarray(0, at), small.subarray(at)]);
      expect(r.events, `split at ${at}`).toEqual(whole.events);
      expect(r.forwarded().equals(whole.forwarded()), `split at ${at}`).toBe(true);
    }
  });

  it('gives the same result fed one byte at a time, and in chunks of every size up to 64', () => {
    const oneByte = parse([...stream].map((b) => Buffer.from([b])));
    expect(oneByte.events).toEqual(expectedEvents);
    expect(oneByte.forwarded().equals(Buffer.concat(dataFrames))).toBe(true);
    for (let size = 2; size <= 64; size++) {
      const chunks: Buffer[] = [];
      for (let at = 0; at < stream.length; at += size) chunks.push(stream.subarray(at, at + size));
      const r = parse(chunks);
      expect(r.events, `chunks of ${size}`).toEqual(expectedEvents);
      expect(r.forwarded().equals(Buffer.concat(dataFrames)), `chunks of ${size}`).toBe(true);
    }
  });

  it('hands out one slice of the chunk per frame, not copies, when a frame is whole in its chunk', () => {
    const r = recorder();
    const seen: Buffer[] = [];
    const parser = new FrameParser({ ...r.sink, onDataPiece: (piece) => void seen.push(piece) }, { maxMessageBytes: 1 << 20 });
    const chunk = Buffer.concat([dataFrames[0]!, dataFrames[1]!]);
    parser.push(chunk);
    expect(seen.every((piece) => piece.buffer === chunk.buffer)).toBe(true);
    // One slice per frame: header and payload together, one buffer to write.
    expect(seen.map((piece) => piece.length)).toEqual([dataFrames[0]!.length, dataFrames[1]!.length]);
  });

  it('reports a text message once and never hands out its bytes', () => {
    const r = parse([frame({ opcode: 1, payload: Buffer.from('abc'), fin: false }), ping, frame({ opcode: 0, payload: Buffer.from('def') })]);
    expect(r.events).toEqual([{ type: 'text' }, { type: 'control', opcode: 9, payload: Buffer.from('hi').toString('hex') }]);
    expect(r.pieces).toHaveLength(0);
  });

  it('accepts a message of exactly the cap and refuses one byte more with 1009, fragmented or not', () => {
    expect(parse([frame({ opcode: 2, payload: bytes(100, 1) })], 100).events).toEqual([{ type: 'end', payloadBytes: 100, fin: true }]);
    expect(parse([frame({ opcode: 2, payload: bytes(101, 1) })], 100).events).toEqual([{ type: 'error', code: 1009 }]);
    const fragmented = parse([frame({ opcode: 2, payload: bytes(60, 1), fin: false }), frame({ opcode: 0, payload: bytes(41, 1) })], 100);
    expect(fragmented.events).toEqual([{ type: 'end', payloadBytes: 60, fin: false }, { type: 'error', code: 1009 }]);
    // A 64-bit length beyond 2^53 - 1 is refused from its header alone.
    const huge = Buffer.from([0x82, 127, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]);
    expect(parse([huge]).events).toEqual([{ type: 'error', code: 1009 }]);
  });

  it.each([
    ['a masked frame', frame({ opcode: 2, payload: bytes(4, 1), mask: true })],
    ['a masked frame split inside its header', frame({ opcode: 2, payload: bytes(300, 1), mask: true })],
    ['RSV1 without an extension', frame({ opcode: 2, payload: bytes(4, 1), rsv: 4 })],
    ['RSV3', frame({ opcode: 2, payload: bytes(4, 1), rsv: 1 })],
    ['a reserved data opcode', frame({ opcode: 3, payload: bytes(4, 1) })],
    ['a reserved control opcode', frame({ opcode: 0xb, payload: bytes(4, 1) })],
    ['a continuation without a message', frame({ opcode: 0, payload: bytes(4, 1) })],
    ['a new message inside a fragmented one', Buffer.concat([frame({ opcode: 2, payload: bytes(4, 1), fin: false }), frame({ opcode: 2, payload: bytes(4, 1) })])],
    ['a fragmented control frame', frame({ opcode: 9, payload: bytes(4, 1), fin: false })],
    ['a control frame above 125 bytes', frame({ opcode: 9, payload: bytes(126, 1) })],
    ['a close frame with a one-byte payload', frame({ opcode: 8, payload: bytes(1, 1) })],
    ['a close frame with a reserved code', frame({ opcode: 8, payload: closePayload(1005) })],
    ['a close frame with code 999', frame({ opcode: 8, payload: closePayload(999) })],
  ])('refuses %s with 1002 and reads nothing after it', (_name, bad) => {
    for (const chunks of [[bad, dataFrames[0]!], [bad.subarray(0, 1), bad.subarray(1), dataFrames[0]!]]) {
      const r = parse(chunks);
      expect(r.events.filter((e) => e.type !== 'end')).toEqual([{ type: 'error', code: 1002 }]);
      expect(r.events.at(-1)).toEqual({ type: 'error', code: 1002 });
    }
  });

  it('refuses a close reason that is not UTF-8 with 1007', () => {
    const r = parse([frame({ opcode: 8, payload: Buffer.concat([closePayload(1000), Buffer.from([0xff, 0xfe])]) })]);
    expect(r.events).toEqual([{ type: 'error', code: 1007 }]);
  });

  it('accepts an empty close frame and the application close codes', () => {
    expect(parse([frame({ opcode: 8, payload: Buffer.alloc(0) })]).events).toEqual([{ type: 'control', opcode: 8, payload: '' }]);
    expect(parse([frame({ opcode: 8, payload: closePayload(4999) })]).events).toEqual([{ type: 'control', opcode: 8, payload: closePayload(4999).toString('hex') }]);
  });
});
