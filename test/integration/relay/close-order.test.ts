// The order of frames around a close: nothing after a close frame on either leg, a side the
// relay paused for backpressure is not judged dead by the keepalive, and an upstream's empty
// close is a normal end. Each case drives the relay over real sockets.

import { afterEach, describe, expect, it } from 'vitest';
import { socketOf } from '../../../gateway/relay/upstream-leg.js';
import { eventually, within } from '../../helpers/gateway-harness.js';
import { closePayload, encodeFrame, openRawWebSocket } from '../../helpers/raw-websocket.js';
import { floodFromClient, floodUpstream, startRelayFront, startRelayPair, type RelayFront, type RelayPair } from './relay-pair.js';

const MiB = 1024 * 1024;
let pair: RelayPair | undefined;
let front: RelayFront | undefined;
afterEach(async () => {
  await pair?.close();
  await front?.close();
  pair = undefined;
  front = undefined;
});

/** An unmasked server frame with a short payload. */
function serverFrame(opcode: number, payload: Buffer): Buffer {
  return Buffer.concat([Buffer.from([0x80 | opcode, payload.length]), payload]);
}

describe('frames around a close', () => {
  it('writes no upstream frame to the client after the close frame it answered the client with', async () => {
    const progress = { sent: 0 };
    front = await startRelayFront({
      // Watermarks far above what the test queues, so backpressure does not stop the frames.
      relay: { highWaterBytes: 64 * MiB, lowWaterBytes: 16 * MiB, slowConsumerBytes: 64 * MiB, pingIntervalMs: 0 },
      upstream: floodUpstream(256 * MiB, 16 * 1024, progress),
    });
    const raw = await openRawWebSocket(front.port, '/', {});
    const { relay, gatewayClient } = await within(front.ready, 5000, 'the relay');
    await eventually(() => relay.bytesFromUpstream > MiB, 10_000, 'frames flowing to the client');
    // A link that does not take the gateway's writes at once (a congested uplink): the
    // gateway's answer to the client's close waits in its socket while upstream frames arrive.
    const gatewaySide = socketOf(gatewayClient)!;
    gatewaySide.cork();
    raw.send(encodeFrame(0x8, closePayload(1000)));
    await new Promise((resolve) => setTimeout(resolve, 200));
    gatewaySide.uncork();
    await within(raw.closed, 10_000, 'the close frame from the gateway');
    await within(relay.done, 10_000, 'the end of the session');
    const closeAt = raw.frames.findIndex((frame) => frame.opcode === 0x8);
    expect(closeAt).toBeGreaterThan(0);
    expect(raw.frames[closeAt]!.payload.readUInt16BE(0)).toBe(1000);
    expect(raw.frames.slice(closeAt + 1).map((frame) => frame.opcode)).toEqual([]);
  });

  it('drops upstream bytes that follow the upstream close frame', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    const p = pair;
    // One TCP write: a data frame, the close frame, then data a server must not send after it.
    socketOf(p.upstreamPeer)!.write(Buffer.concat([serverFrame(0x2, Buffer.from('before')), serverFrame(0x8, closePayload(1000)), serverFrame(0x2, Buffer.from('AFTER-CLOSE'))]));
    expect((await within(p.clientClosed, 5000, 'the client close')).code).toBe(1000);
    expect(p.received.map((data) => data.toString())).toEqual(['before']);
    expect(await within(p.result, 5000, 'result')).toMatchObject({ closedBy: 'upstream', reason: 'upstream_closed', bytesFromUpstream: 6 });
  });

  it('treats an upstream close without a status code as a normal end', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    socketOf(pair.upstreamPeer)!.write(serverFrame(0x8, Buffer.alloc(0)));
    expect((await within(pair.clientClosed, 5000, 'the client close')).code).toBe(1000);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closedBy: 'upstream', closeCode: 1000, reason: 'upstream_closed' });
  });
});

describe('the keepalive and backpressure', () => {
  it('blames an upstream that stopped reading, not the client the relay paused because of it', async () => {
    pair = await startRelayPair({
      relay: { highWaterBytes: 64 * 1024, lowWaterBytes: 16 * 1024, pingIntervalMs: 200 },
      // Stops reading: its kernel buffers fill, then the gateway's queue to it.
      upstream: (peer) => peer.pause(),
    });
    const p = pair;
    const stop = floodFromClient(p.client, 32 * 1024);
    try {
      await eventually(() => p.relay.paused.client, 10_000, 'the relay to pause the client');
      const result = await within(p.result, 10_000, 'the end of the session');
      expect(result).toMatchObject({ closedBy: 'gateway', closeCode: 4504, reason: 'upstream_keepalive_timeout' });
    } finally {
      stop();
    }
  });
});
