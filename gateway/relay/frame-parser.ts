// An incremental parser for the frames a WebSocket server sends (RFC 6455 §5), built to forward
// them rather than to decode them: a data frame's bytes (header and payload, exactly as received)
// are handed out as slices of the incoming chunks, never joined or copied, so the relay can pass
// upstream→client frames through verbatim (both legs are server→client, unmasked, so the bytes
// are valid as they are). Control frames are collected (≤ 125 bytes) and handed out whole; text
// messages are reported once and their bytes skipped. Anything ws's own receiver would refuse from
// a server without extensions is refused here too: RSV bits, a masked frame, unknown opcodes,
// broken fragmentation, oversized or fragmented control frames, messages above the cap (1009).

import { isUtf8 } from 'node:buffer';

/** What the parser hands out. Pieces of one data frame come in order, then `onDataFrameEnd`. */
export interface FrameSink {
  /** Bytes of a binary data frame (its header or part of its payload), as received. */
  onDataPiece(piece: Buffer): void;
  /** The data frame whose pieces came last is complete. `fin` ends the message. */
  onDataFrameEnd(payloadBytes: number, fin: boolean): void;
  /** A text message started; its bytes are skipped and never handed out. */
  onTextMessage(): void;
  /** A complete control frame: 0x8 close, 0x9 ping, 0xa pong. */
  onControl(opcode: number, payload: Buffer): void;
  /** The stream broke the protocol; the parser ignores everything after this. */
  onProtocolError(closeCode: 1002 | 1007 | 1009, detail: string): void;
}

export interface FrameParserOptions {
  /** Largest message (the sum of its fragments) accepted; larger ones are refused with 1009. */
  maxMessageBytes: number;
}

const enum State {
  Header,
  Payload,
  Failed,
}

const enum Kind {
  Binary,
  Text,
  Control,
}

/** A close frame's status code as ws accepts it (RFC 6455 §7.4). */
export function isValidCloseCode(code: number): boolean {
  return (code >= 1000 && code <= 1014 && code !== 1004 && code !== 1005 && code !== 1006) || (code >= 3000 && code <= 4999);
}

/** Parses a stream of server→client frames pushed in chunks split at any offset. */
export class FrameParser {
  private state = State.Header;
  private readonly header = Buffer.alloc(14);
  private headerHave = 0;
  private headerNeed = 2;
  private kind = Kind.Binary;
  private opcode = 0;
  private fin = false;
  private payloadLength = 0;
  private remaining = 0;
  /** Set between the first and the final frame of a fragmented message. */
  private messageKind: Kind.Binary | Kind.Text | undefined;
  private messageBytes = 0;
  private control: Buffer[] = [];

  constructor(
    private readonly sink: FrameSink,
    private readonly options: FrameParserOptions,
  ) {}

  /** Feeds the next chunk of the stream. */
  push(chunk: Buffer): void {
    const length = chunk.length;
    let pos = 0;
    // Where a data frame's header starts in this chunk, held back so that header and payload go
    // out as one slice (one buffer to write) rather than two.
    let headerAt = -1;
    while (pos < length) {
      if (this.state === State.Failed) return;
      if (this.state === State.Header) {
        const start = pos;
        if (this.headerHave === 0 && length - pos >= 2) {
          // Fast path: the whole header is in this chunk; it is forwarded as a slice of it.
          const need = headerBytes(chunk[pos + 1]!);
          if (length - pos >= need) {
            pos += need;
            if (!this.startFrame(chunk, start)) return;
            if (this.kind === Kind.Binary) {
              if (this.remaining > 0) {
                headerAt = start;
                continue;
              }
              this.sink.onDataPiece(chunk.subarray(start, pos));
            }
            if (this.remaining === 0) this.endFrame();
            continue;
          }
        }
        // Slow path: the header is split across chunks; gather it byte by byte into a copy.
        while (pos < length && this.headerHave < this.headerNeed) {
          this.header[this.headerHave++] = chunk[pos++]!;
          if (this.headerHave === 2) this.headerNeed = headerBytes(this.header[1]!);
        }
        if (this.headerHave < this.headerNeed) return;
        const copied = Buffer.from(this.header.subarray(0, this.headerNeed));
        this.headerHave = 0;
        this.headerNeed = 2;
        if (!this.startFrame(copied, 0)) return;
        if (this.kind === Kind.Binary) this.sink.onDataPiece(copied);
        if (this.remaining === 0) this.endFrame();
        continue;
      }
      // Payload.
      const take = Math.min(this.remaining, length - pos);
      if (this.kind === Kind.Binary) {
        const from = headerAt >= 0 ? headerAt : pos;
        headerAt = -1;
        this.sink.onDataPiece(from === 0 && pos + take === length ? chunk : chunk.subarray(from, pos + take));
      } else if (this.kind === Kind.Control) this.control.push(chunk.subarray(pos, pos + take));
      pos += take;
      this.remaining -= take;
      if (this.remaining === 0) this.endFrame();
    }
    // A header that ended the chunk: its payload comes with the next one.
    if (headerAt >= 0 && this.state !== State.Failed) this.sink.onDataPiece(chunk.subarray(headerAt, length));
  }

  private fail(closeCode: 1002 | 1007 | 1009, detail: string): false {
    this.state = State.Failed;
    this.sink.onProtocolError(closeCode, detail);
    return false;
  }

  /** Validates the header at `buf[at..]`; returns false (after reporting) when it is refused. */
  private startFrame(buf: Buffer, at: number): boolean {
    const b0 = buf[at]!;
    const b1 = buf[at + 1]!;
    if ((b0 & 0x70) !== 0) return this.fail(1002, 'RSV bits set without an extension');
    if ((b1 & 0x80) !== 0) return this.fail(1002, 'a server frame must not be masked');
    const fin = (b0 & 0x80) !== 0;
    const opcode = b0 & 0x0f;
    let length = b1 & 0x7f;
    if (length === 126) length = buf.readUInt16BE(at + 2);
    else if (length === 127) {
      const high = buf.readUInt32BE(at + 2);
      // Above 2^53 - 1 cannot be counted exactly; far above any cap anyway.
      if (high > 0x1fffff) return this.fail(1009, 'payload length above 2^53 - 1');
      length = high * 0x1_0000_0000 + buf.readUInt32BE(at + 6);
    }
    if (opcode >= 0x8) {
      if (opcode > 0xa) return this.fail(1002, `reserved opcode ${opcode}`);
      if (!fin) return this.fail(1002, 'fragmented control frame');
      if (length > 125) return this.fail(1002, 'control frame payload above 125 bytes');
      this.kind = Kind.Control;
    } else if (opcode === 0x0) {
      if (this.messageKind === undefined) return this.fail(1002, 'continuation frame without a message');
      this.kind = this.messageKind;
    } else if (opcode === 0x1 || opcode === 0x2) {
      if (this.messageKind !== undefined) return this.fail(1002, 'new message inside a fragmented message');
      this.kind = opcode === 0x1 ? Kind.Text : Kind.Binary;
      this.messageBytes = 0;
      if (this.kind === Kind.Text) this.sink.onTextMessage();
      if (this.state === State.Failed) return false;
    } else {
      return this.fail(1002, `reserved opcode ${opcode}`);
    }
    if (this.kind !== Kind.Control) {
      this.messageBytes += length;
      if (this.messageBytes > this.options.maxMessageBytes) return this.fail(1009, 'message above the size cap');
      this.messageKind = fin ? undefined : this.kind;
    }
    this.opcode = opcode;
    this.fin = fin;
    this.payloadLength = length;
    this.remaining = length;
    this.state = State.Payload;
    return true;
  }

  private endFrame(): void {
    // A sink that stopped the parser while it handed out the frame's last piece gets nothing more.
    if (this.state === State.Failed) return;
    this.state = State.Header;
    if (this.kind === Kind.Binary) {
      this.sink.onDataFrameEnd(this.payloadLength, this.fin);
      return;
    }
    if (this.kind !== Kind.Control) return;
    const payload = this.control.length === 1 ? this.control[0]! : Buffer.concat(this.control, this.payloadLength);
    this.control = [];
    if (this.opcode === 0x8 && payload.length > 0) {
      if (payload.length === 1) return void this.fail(1002, 'close frame with a one-byte payload');
      if (!isValidCloseCode(payload.readUInt16BE(0))) return void this.fail(1002, 'invalid close code');
      if (!isUtf8(payload.subarray(2))) return void this.fail(1007, 'close reason is not UTF-8');
    }
    this.sink.onControl(this.opcode, payload);
  }

  /** Stops parsing; later chunks are ignored (used once the session is over). */
  stop(): void {
    this.state = State.Failed;
  }
}

/** The header's size from its second byte (servers never mask). */
function headerBytes(b1: number): number {
  const length = b1 & 0x7f;
  // A masked frame is refused once the first two bytes are in; its size still counts the key.
  const mask = (b1 & 0x80) !== 0 ? 4 : 0;
  return (length === 126 ? 4 : length === 127 ? 10 : 2) + mask;
}
