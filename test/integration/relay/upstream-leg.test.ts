// The upstream leg over real sockets: ws opens the connection, the leg takes it over and speaks
// the frames itself — masked frames a ws server accepts, pings answered, the close handshake,
// bytes that came with the handshake kept, and a misbehaving upstream refused.

import type { AddressInfo } from 'node:net';
import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import * as wsModule from 'ws';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeMaskedFrame, socketOf, takeOverUpstream, type UpstreamLeg, type UpstreamLegHandlers } from '../../../gateway/relay/upstream-leg.js';
import { eventually, within } from '../../helpers/gateway-harness.js';

interface Recorded {
  frames: Buffer[];
  payloadBytes: number;
  pongs: number;
  texts: number;
  errors: number[];
  closed: Promise<number>;
}

function recording(): { handlers: UpstreamLegHandlers; seen: Recorded } {
  let closedResolve: (code: number) => void = () => undefined;
  const seen: Recorded = { frames: [], payloadBytes: 0, pongs: 0, texts: 0, errors: [], closed: new Promise((resolve) => (closedResolve = resolve)) };
  return {
    seen,
    handlers: {
      onFrames: (pieces, payloadBytes) => {
        seen.frames.push(Buffer.concat(pieces));
        seen.payloadBytes += payloadBytes;
      },
      onText: () => void seen.texts++,
      onPong: () => void seen.pongs++,
      onProtocolError: (code) => void seen.errors.push(code),
      onClose: (code) => closedResolve(code),
    },
  };
}

// ws exports its receiver at run time; @types/ws does not declare it.
interface WsReceiver {
  on(event: 'message', listener: (data: Buffer) => void): void;
  write(chunk: Buffer): void;
}
const { Receiver } = wsModule as unknown as { Receiver: new (options: { isServer: boolean; maxPayload: number }) => WsReceiver };

let server: WebSocketServer | undefined;
let leg: UpstreamLeg | undefined;
afterEach(async () => {
  leg?.terminate();
  leg = undefined;
  for (const client of server?.clients ?? []) client.terminate();
  await new Promise((resolve) => (server ? server.close(resolve) : resolve(undefined)));
  server = undefined;
});

/** A ws server scripted by `onPeer`, a ws client opened and paused, then taken over. */
async function openLeg(onPeer: (peer: WebSocket) => void, maxMessageBytes?: number): Promise<{ leg: UpstreamLeg; peer: WebSocket; seen: Recorded }> {
  server = new WebSocketServer({ port: 0, host: '127.0.0.1', perMessageDeflate: false });
  await new Promise<void>((resolve) => server!.once('listening', () => resolve()));
  const peerReady = new Promise<WebSocket>((resolve) =>
    server!.once('connection', (peer) => {
      peer.on('error', () => undefined);
      onPeer(peer);
      resolve(peer);
    }),
  );
  const ws = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}/`, { perMessageDeflate: false, maxPayload: 4096 });
  ws.on('error', () => undefined);
  await new Promise<void>((resolve) => ws.once('open', () => resolve(ws.pause())));
  const peer = await peerReady;
  // Give frames sent on connection time to arrive and wait in the paused socket.
  await new Promise((resolve) => setTimeout(resolve, 50));
  const { handlers, seen } = recording();
  leg = takeOverUpstream(ws, handlers, maxMessageBytes === undefined ? {} : { maxMessageBytes });
  leg.resume();
  return { leg, peer, seen };
}

/** Writes raw bytes on a ws peer's socket, as a misbehaving server would. */
function rawWrite(peer: WebSocket, bytes: Buffer): void {
  (socketOf(peer) as Duplex).write(bytes);
}

describe('masked frames for the upstream', () => {
  it.each([0, 1, 125, 126, 65_535, 65_536, 70_001])('decode with ws as the same %i-byte payload', (size) => {
    const payload = Buffer.alloc(size);
    for (let i = 0; i < size; i++) payload[i] = (i * 31) & 0xff;
    const receiver = new Receiver({ isServer: true, maxPayload: 1 << 20 });
    const messages: Buffer[] = [];
    receiver.on('message', (data: Buffer) => messages.push(data));
    const encoded = encodeMaskedFrame(2, payload);
    // The payload on the wire is masked, not the plain bytes (ws unmasks in place, so look first).
    if (size >= 16) expect(encoded.subarray(encoded.length - size).equals(payload)).toBe(false);
    receiver.write(encoded);
    expect(messages).toHaveLength(1);
    expect(messages[0]!.equals(payload)).toBe(true);
  });

  it('uses a different mask key for each frame', () => {
    const keys = new Set<string>();
    for (let i = 0; i < 64; i++) keys.add(encodeMaskedFrame(2, Buffer.alloc(4)).subarray(2, 6).toString('hex'));
    expect(keys.size).toBeGreaterThan(60);
  });
});

describe('the upstream leg', () => {
  it('keeps frames that arrived with the handshake and relays the upstream frames verbatim', async () => {
    const { seen } = await openLeg((peer) => {
      peer.send(Buffer.from('banner'));
      peer.send(Buffer.alloc(300, 7));
    });
    await eventually(() => seen.frames.length >= 2 || seen.frames.some((f) => f.length > 300), 5000, 'the early frames');
    const all = Buffer.concat(seen.frames);
    expect(all.equals(Buffer.concat([Buffer.from([0x82, 6]), Buffer.from('banner'), Buffer.from([0x82, 126, 1, 44]), Buffer.alloc(300, 7)]))).toBe(true);
    expect(seen.payloadBytes).toBe(306);
  });

  it('sends masked binary messages the upstream accepts, answers its pings and reports its pongs', async () => {
    const received: Buffer[] = [];
    const pongs: Buffer[] = [];
    const { leg: l, peer, seen } = await openLeg((p) => {
      p.on('message', (data: Buffer, isBinary) => isBinary && received.push(data));
      p.on('pong', (data: Buffer) => pongs.push(data));
    });
    l.send(Buffer.from('key press'));
    l.send(Buffer.alloc(70_000, 9));
    await eventually(() => received.length === 2, 5000, 'both messages upstream');
    expect(received[0]!.toString()).toBe('key press');
    expect(received[1]!.equals(Buffer.alloc(70_000, 9))).toBe(true);
    peer.ping(Buffer.from('are you there'));
    await eventually(() => pongs.length === 1, 5000, 'the pong');
    expect(pongs[0]!.toString()).toBe('are you there');
    l.ping();
    await eventually(() => seen.pongs === 1, 5000, 'the upstream pong');
  });

  it('completes a close the upstream starts, reporting its code', async () => {
    const { peer, seen } = await openLeg(() => undefined);
    const peerClosed = new Promise<number>((resolve) => peer.once('close', (code) => resolve(code)));
    peer.close(1001);
    expect(await within(seen.closed, 5000, 'the leg close')).toBe(1001);
    expect(await within(peerClosed, 5000, 'the upstream close')).toBe(1001);
  });

  it('starts a close the upstream completes', async () => {
    const { leg: l, peer, seen } = await openLeg(() => undefined);
    const peerClosed = new Promise<number>((resolve) => peer.once('close', (code) => resolve(code)));
    l.close(1000);
    l.close(4000);
    expect(await within(peerClosed, 5000, 'the upstream close')).toBe(1000);
    expect(await within(seen.closed, 5000, 'the leg close')).toBe(1000);
  });

  it('reports 1006 when the upstream vanishes without a close frame', async () => {
    const { peer, seen } = await openLeg(() => undefined);
    peer.terminate();
    expect(await within(seen.closed, 5000, 'the leg close')).toBe(1006);
  });

  it('refuses a masked frame from a misbehaving upstream with 1002, and relays nothing of it', async () => {
    const { peer, seen } = await openLeg(() => undefined);
    const peerClosed = new Promise<number>((resolve) => peer.once('close', (code) => resolve(code)));
    rawWrite(peer, encodeMaskedFrame(2, Buffer.from('sneaky')));
    expect(await within(peerClosed, 5000, 'the upstream close')).toBe(1002);
    expect(seen.errors).toEqual([1002]);
    expect(seen.frames).toHaveLength(0);
    await within(seen.closed, 5000, 'the leg close');
  });

  it('refuses a message above the cap ws was opened with (1009)', async () => {
    const { peer, seen } = await openLeg(() => undefined);
    const peerClosed = new Promise<number>((resolve) => peer.once('close', (code) => resolve(code)));
    peer.send(Buffer.alloc(4096));
    peer.send(Buffer.alloc(4097));
    expect(await within(peerClosed, 5000, 'the upstream close')).toBe(1009);
    expect(seen.errors).toEqual([1009]);
    expect(seen.payloadBytes).toBe(4096);
  });

  it('reports a text message without relaying it', async () => {
    const { peer, seen } = await openLeg(() => undefined);
    peer.send('hello');
    peer.send(Buffer.from('after'));
    await eventually(() => seen.texts === 1 && seen.frames.length === 1, 5000, 'the text report and the binary frame');
    expect(Buffer.concat(seen.frames).subarray(2).toString()).toBe('after');
  });

  it('pauses reading while paused', async () => {
    const { leg: l, peer, seen } = await openLeg(() => undefined);
    l.pause();
    peer.send(Buffer.from('held'));
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(seen.frames).toHaveLength(0);
    l.resume();
    await eventually(() => seen.frames.length === 1, 5000, 'the held frame');
  });
});
