import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { ByteQueue, callApi, codeOf, decodeVncUrl, within } from './helpers.js';

interface Rect {
  x: number;
  y: number;
  w: number;
  h: number;
  data: Buffer;
}

/** A deliberately small RFB 3.8 viewer: enough to check the built-in server byte by byte. */
class TestViewer {
  readonly bytes = new ByteQueue();
  readonly closed: Promise<number>;
  bytesPerPixel = 4;

  constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => this.bytes.push(data));
    this.closed = new Promise((resolve) => ws.on('close', (code) => resolve(code)));
  }

  send(bytes: number[] | Buffer): void {
    this.ws.send(Buffer.from(bytes));
  }

  async handshake(): Promise<{ width: number; height: number; format: Buffer; name: string }> {
    expect((await this.bytes.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    this.send(Buffer.from('RFB 003.008\n', 'latin1'));
    expect([...(await this.bytes.read(2))]).toEqual([1, 1]); // one type: None
    this.send([1]);
    expect((await this.bytes.read(4)).readUInt32BE(0)).toBe(0); // SecurityResult OK
    this.send([1]); // ClientInit, shared
    const init = await this.bytes.read(24);
    const name = (await this.bytes.read(init.readUInt32BE(20))).toString('utf8');
    return { width: init.readUInt16BE(0), height: init.readUInt16BE(2), format: init.subarray(4, 20), name };
  }

  setPixelFormat(bpp: number, depth: number, bigEndian: boolean, max: number[], shift: number[]): void {
    const m = Buffer.alloc(20);
    m.writeUInt8(0, 0);
    m.writeUInt8(bpp, 4);
    m.writeUInt8(depth, 5);
    m.writeUInt8(bigEndian ? 1 : 0, 6);
    m.writeUInt8(1, 7);
    m.writeUInt16BE(max[0]!, 8);
    m.writeUInt16BE(max[1]!, 10);
    m.writeUInt16BE(max[2]!, 12);
    m.writeUInt8(shift[0]!, 14);
    m.writeUInt8(shift[1]!, 15);
    m.writeUInt8(shift[2]!, 16);
    this.send(m);
    this.bytesPerPixel = bpp / 8;
  }

  setEncodings(encodings: number[]): void {
    const m = Buffer.alloc(4 + 4 * encodings.length);
    m.writeUInt8(2, 0);
    m.writeUInt16BE(encodings.length, 2);
    encodings.forEach((e, i) => m.writeInt32BE(e, 4 + 4 * i));
    this.send(m);
  }

  requestUpdate(incremental: boolean, x = 0, y = 0, w = 800, h = 600): void {
    const m = Buffer.alloc(10);
    m.writeUInt8(3, 0);
    m.writeUInt8(incremental ? 1 : 0, 1);
    m.writeUInt16BE(x, 2);
    m.writeUInt16BE(y, 4);
    m.writeUInt16BE(w, 6);
    m.writeUInt16BE(h, 8);
    this.send(m);
  }

  async readUpdate(timeoutMs = 3000): Promise<Rect[]> {
    const header = await this.bytes.read(4, timeoutMs);
    expect(header[0]).toBe(0); // FramebufferUpdate
    const rects: Rect[] = [];
    for (let i = 0; i < header.readUInt16BE(2); i++) {
      const r = await this.bytes.read(12, timeoutMs);
      expect(r.readInt32BE(8)).toBe(0); // Raw
      const w = r.readUInt16BE(4);
      const h = r.readUInt16BE(6);
      rects.push({ x: r.readUInt16BE(0), y: r.readUInt16BE(2), w, h, data: Buffer.from(await this.bytes.read(w * h * this.bytesPerPixel, timeoutMs)) });
    }
    return rects;
  }
}

/** The viewer's copy of the screen, 4 bytes per pixel in the negotiated 32 bpp format. */
function applyRects(fb: Buffer, rects: Rect[], width = 800): void {
  for (const r of rects) {
    for (let row = 0; row < r.h; row++) r.data.copy(fb, ((r.y + row) * width + r.x) * 4, row * r.w * 4, (row + 1) * r.w * 4);
  }
}

function pixel(fb: Buffer, x: number, y: number, width = 800): number[] {
  const i = (y * width + x) * 4;
  return [...fb.subarray(i, i + 4)];
}

describe('built-in RFB server', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({ apiRequestsPerSecond: 1000, connectsPerInstancePerMinute: 1000 });
  });
  afterAll(async () => {
    await sim.close();
  });

  async function connect(instanceId = 'lhins-demo0001'): Promise<TestViewer> {
    const res = await callApi(sim, { body: { InstanceId: instanceId } });
    expect(codeOf(res)).toBe('ok');
    const ws = new WebSocket(decodeVncUrl(res.body.Response.InstanceVncUrl), ['binary']);
    const viewer = new TestViewer(ws);
    await within(5000, new Promise((resolve, reject) => (ws.once('open', resolve), ws.once('error', reject))), 'open');
    return viewer;
  }

  it('completes the 3.8 handshake and describes an 800x600 true-colour screen named after the instance', async () => {
    const viewer = await connect();
    const init = await viewer.handshake();
    expect(init).toMatchObject({ width: 800, height: 600, name: 'lhins-demo0001' });
    // 32 bpp, depth 24, little-endian, true colour, max 255/255/255, shifts 16/8/0.
    expect([...init.format.subarray(0, 13)]).toEqual([32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0]);
    viewer.ws.close();
  });

  it("sends the full screen in noVNC's pixel format, then only changed rectangles, and the picture moves", async () => {
    const viewer = await connect();
    await viewer.handshake();
    // What noVNC 1.7 sends: red in the low byte, little-endian.
    viewer.setPixelFormat(32, 24, false, [255, 255, 255], [0, 8, 16]);
    viewer.setEncodings([0, 1, 7, -223, -224, -258, -261, -307, -308, -309, -312, -313]);
    viewer.requestUpdate(false);
    const full = await viewer.readUpdate();
    expect(full.map(({ x, y, w, h }) => ({ x, y, w, h }))).toEqual([{ x: 0, y: 0, w: 800, h: 600 }]);
    const fb = Buffer.alloc(800 * 600 * 4);
    applyRects(fb, full);
    expect(pixel(fb, 150, 200)).toEqual([235, 235, 16, 0]); // yellow bar
    expect(pixel(fb, 550, 200)).toEqual([235, 16, 16, 0]); // red bar
    const first = Buffer.from(fb);

    viewer.requestUpdate(true);
    const changes = await viewer.readUpdate();
    expect(changes.length).toBeGreaterThan(0);
    const area = changes.reduce((sum, r) => sum + r.w * r.h, 0);
    expect(area).toBeLessThan(800 * 600 / 4); // only what moved, not the screen
    applyRects(fb, changes);
    expect(fb.equals(first)).toBe(false);
    // The colour bars did not move, so they were not resent.
    expect(changes.every((r) => r.y + r.h <= 42 || r.y >= 360)).toBe(true);
    viewer.ws.close();
  });

  it('honours a 16 bpp big-endian pixel format with its own maxima and shifts', async () => {
    const viewer = await connect();
    await viewer.handshake();
    viewer.setPixelFormat(16, 16, true, [31, 63, 31], [11, 5, 0]);
    viewer.requestUpdate(false, 150, 200, 1, 1);
    const [rect] = await viewer.readUpdate();
    expect(rect).toMatchObject({ x: 150, y: 200, w: 1, h: 1 });
    // Yellow (235, 235, 16) scaled to 5/6/5 bits.
    expect(rect!.data.readUInt16BE(0)).toBe((29 << 11) | (58 << 5) | 2);
    viewer.ws.close();
  });

  it('records KeyEvent, PointerEvent and ClientCutText per instance and shows typed keys on screen', async () => {
    const viewer = await connect();
    await viewer.handshake();
    viewer.setPixelFormat(32, 24, false, [255, 255, 255], [0, 8, 16]);
    viewer.requestUpdate(false);
    await viewer.readUpdate();
    const before = sim.inputEvents('lhins-demo0001').length;
    const key = (down: boolean, keysym: number): number[] => [4, down ? 1 : 0, 0, 0, (keysym >>> 24) & 255, (keysym >>> 16) & 255, (keysym >>> 8) & 255, keysym & 255];
    viewer.send([...key(true, 0x51), ...key(false, 0x51)]); // 'Q'
    viewer.send([5, 1, 0, 100, 0, 50]); // pointer at (100, 50), button 1
    const text = Buffer.from('hello');
    viewer.send(Buffer.concat([Buffer.from([6, 0, 0, 0, 0, 0, 0, text.length]), text]));
    const deadline = Date.now() + 3000;
    while (sim.inputEvents('lhins-demo0001').length < before + 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
    const events = sim.inputEvents('lhins-demo0001').slice(before);
    expect(events.map(({ atMs: _atMs, ...rest }) => rest)).toEqual([
      { type: 'key', down: true, keysym: 0x51 },
      { type: 'key', down: false, keysym: 0x51 },
      { type: 'pointer', x: 100, y: 50, buttonMask: 1 },
      { type: 'cut-text', text: 'hello' },
    ]);
    // The typed key lands in the bottom band: some update must touch it.
    let touchedKeys = false;
    for (let i = 0; i < 5 && !touchedKeys; i++) {
      viewer.requestUpdate(true);
      touchedKeys = (await viewer.readUpdate()).some((r) => r.y >= 520);
    }
    expect(touchedKeys).toBe(true);
    viewer.ws.close();
  });

  it('closes the connection on a malformed client message instead of throwing', async () => {
    const viewer = await connect();
    await viewer.handshake();
    viewer.send([99, 0, 0, 0]);
    expect(await within(2000, viewer.closed, 'close')).toBe(1000);
    const bad = await connect();
    await bad.bytes.read(12);
    bad.send(Buffer.from('HELLO WORLD!', 'latin1'));
    expect(await within(2000, bad.closed, 'close')).toBe(1000);
    const oversized = await connect();
    await oversized.handshake();
    oversized.send([6, 0, 0, 0, 0x7f, 0xff, 0xff, 0xff]); // ClientCutText claiming 2 GB
    expect(await within(2000, oversized.closed, 'close')).toBe(1000);
  });
});
