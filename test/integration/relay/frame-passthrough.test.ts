// Upstream frames passed through the relay verbatim: fragmented messages with control frames
// between their fragments reach the client whole and counted exactly, the relay's own pings
// never land inside a frame, and frames a server must not send end the session with 4502.

import type { Duplex } from 'node:stream';
import { afterEach, describe, expect, it } from 'vitest';
import { encodeMaskedFrame, socketOf } from '../../../gateway/relay/upstream-leg.js';
import { eventually, within } from '../../helpers/gateway-harness.js';
import { startRelayPair, type RelayPair } from './relay-pair.js';

let pair: RelayPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

/** An unmasked server frame. */
function serverFrame(opcode: number, payload: Buffer, fin = true): Buffer {
  const length = payload.length;
  const header = length > 65535 ? Buffer.alloc(10) : length > 125 ? Buffer.alloc(4) : Buffer.alloc(2);
  header[0] = (fin ? 0x80 : 0) | opcode;
  if (length > 65535) {
    header[1] = 127;
    header.writeBigUInt64BE(BigInt(length), 2);
  } else if (length > 125) {
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else header[1] = length;
  return Buffer.concat([header, payload]);
}

const upstreamSocket = (p: RelayPair): Duplex => socketOf(p.upstreamPeer)!;

describe('frames passed through the relay', () => {
  it('delivers a fragmented message with pings and pongs between its fragments, split at odd offsets', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    const p = pair;
    const pings: Buffer[] = [];
    p.upstreamPeer.on('pong', (data: Buffer) => pings.push(data));
    const parts = [Buffer.alloc(1000, 1), Buffer.alloc(70_000, 2), Buffer.alloc(3, 3)];
    const stream = Buffer.concat([
      serverFrame(2, parts[0]!, false),
      serverFrame(9, Buffer.from('ping-1')),
      serverFrame(0, parts[1]!, false),
      serverFrame(10, Buffer.alloc(0)),
      serverFrame(0, parts[2]!, true),
      serverFrame(2, Buffer.from('next')),
    ]);
    const socket = upstreamSocket(p);
    // Odd-sized writes so frame headers straddle TCP chunks.
    for (let at = 0; at < stream.length; at += 997) socket.write(stream.subarray(at, at + 997));
    await eventually(() => p.received.length === 2, 5000, 'both messages at the client');
    expect(p.received[0]!.equals(Buffer.concat(parts))).toBe(true);
    expect(p.received[1]!.toString()).toBe('next');
    expect(p.relay.bytesFromUpstream).toBe(1000 + 70_000 + 3 + 4);
    await eventually(() => pings.length === 1, 5000, 'the pong for the upstream ping');
    expect(pings[0]!.toString()).toBe('ping-1');
  });

  it('keeps its keepalive pings between frames while frames are half relayed', async () => {
    // The upstream's own pongs are written here, between frames: ws's automatic ones would land
    // inside the raw frames this test writes on its socket.
    pair = await startRelayPair({ relay: { pingIntervalMs: 40 }, upstreamServer: { autoPong: false } });
    const p = pair;
    let pings = 0;
    p.client.on('ping', () => void pings++);
    let pingFromRelay = false;
    p.upstreamPeer.on('ping', () => void (pingFromRelay = true));
    const frame = serverFrame(2, Buffer.alloc(20_000, 5));
    const socket = upstreamSocket(p);
    // Paced, so the relay's ping timer fires while a frame is half relayed.
    for (let i = 0; i < 60; i++) {
      for (let at = 0; at < frame.length; at += 4096) {
        socket.write(frame.subarray(at, at + 4096));
        await new Promise((resolve) => setTimeout(resolve, 1));
      }
      if (pingFromRelay) {
        pingFromRelay = false;
        socket.write(serverFrame(10, Buffer.alloc(0)));
      }
    }
    await eventually(() => p.received.length === 60, 10_000, 'every frame');
    expect(p.received.every((m) => m.length === 20_000 && m[0] === 5 && m[19_999] === 5)).toBe(true);
    expect(pings).toBeGreaterThan(0);
    expect(p.client.readyState).toBe(p.client.OPEN);
  });

  it('ends the session with 4502 when the upstream sends a masked frame', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    upstreamSocket(pair).write(encodeMaskedFrame(2, Buffer.from('masked')));
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(4502);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closedBy: 'upstream', closeCode: 4502, reason: 'upstream_protocol_error' });
    expect((await within(pair.upstreamClosed, 5000, 'upstream close')).code).toBe(1002);
    expect(pair.received).toHaveLength(0);
  });

  it('passes the frames before an upstream close to the client first', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    const p = pair;
    const close = serverFrame(8, Buffer.from([0x03, 0xe8]));
    upstreamSocket(p).write(Buffer.concat([serverFrame(2, Buffer.from('last words')), close]));
    expect((await within(p.clientClosed, 5000, 'client close')).code).toBe(1000);
    expect(p.received.map((m) => m.toString())).toEqual(['last words']);
    expect(await within(p.result, 5000, 'result')).toMatchObject({ closedBy: 'upstream', reason: 'upstream_closed', bytesFromUpstream: 10 });
  });
});
