// The relay between real sockets: backpressure, every lifecycle rule, and every close-code path
// (README "WebSocket close codes"). Timers are set short; no test asserts how long anything took.

import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { isGatewayError } from '../../../gateway/errors.js';
import { connectUpstream } from '../../../gateway/relay/upstream-connect.js';
import { maxDurationMs } from '../../../gateway/upgrade.js';
import { eventually, within } from '../../helpers/gateway-harness.js';
import { checkSequence, floodFromClient, floodUpstream, startRelayPair, type RelayPair } from './relay-pair.js';

const MiB = 1024 * 1024;
let pair: RelayPair | undefined;
afterEach(async () => {
  await pair?.close();
  pair = undefined;
});

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const receivedBytes = (p: RelayPair): number => p.received.reduce((n, b) => n + b.length, 0);

describe('backpressure', () => {
  it('pauses a fast upstream while the client stops reading, keeps the queue bounded, and resumes', async () => {
    const total = 48 * MiB;
    const frame = 64 * 1024;
    const high = MiB;
    const progress = { sent: 0 };
    pair = await startRelayPair({
      relay: { highWaterBytes: high, lowWaterBytes: high / 4, slowConsumerBytes: MiB, slowConsumerMs: 60_000, pingIntervalMs: 0 },
      upstream: floodUpstream(total, frame, progress),
    });
    const p = pair;
    // The client stops reading: the kernel buffers fill, then the gateway's own queue.
    p.client.pause();
    await eventually(() => p.relay.paused.upstream, 10_000, 'the relay to pause the upstream');
    let peakQueued = 0;
    const relayedWhilePaused = p.relay.bytesFromUpstream;
    for (let i = 0; i < 10; i++) {
      peakQueued = Math.max(peakQueued, p.gatewayClient.bufferedAmount);
      await sleep(30);
    }
    // Bounded: at most the high watermark plus the frame that crossed it.
    expect(peakQueued).toBeGreaterThan(0);
    expect(peakQueued).toBeLessThanOrEqual(high + frame);
    // Paused: nothing more was read from the upstream while the client was not reading.
    expect(p.relay.paused.upstream).toBe(true);
    expect(p.relay.bytesFromUpstream).toBe(relayedWhilePaused);
    expect(progress.sent).toBeLessThan(total);

    p.client.resume();
    await eventually(() => receivedBytes(p) === total, 20_000, 'every byte after the client read again');
    expect(p.relay.paused.upstream).toBe(false);
    expect(p.relay.bytesFromUpstream).toBe(total);
    // Nothing lost, repeated, reordered or altered across the pause.
    expect(p.received).toHaveLength(total / frame);
    expect(checkSequence(p.received, frame)).toBe(-1);
  });

  it('pauses the client when the upstream stops reading', async () => {
    pair = await startRelayPair({
      relay: { highWaterBytes: 256 * 1024, lowWaterBytes: 64 * 1024, pingIntervalMs: 0 },
      upstream: (peer) => peer.pause(),
      maxClientPayloadBytes: 64 * 1024,
    });
    const p = pair;
    const stop = floodFromClient(p.client, 60 * 1024);
    try {
      await eventually(() => p.relay.paused.client, 10_000, 'the relay to pause the client');
      expect(p.gatewayClient.isPaused).toBe(true);
    } finally {
      stop();
    }
    p.upstreamPeer.resume();
    await eventually(() => !p.relay.paused.client, 10_000, 'the client to be read again');
  });
});

describe('lifecycle rules', () => {
  it('closes a session whose client sends nothing with 4408, but not while it sends', async () => {
    pair = await startRelayPair({ relay: { idleTimeoutMs: 400, pingIntervalMs: 0 } });
    const p = pair;
    for (let i = 0; i < 12; i++) {
      p.client.send(Buffer.from([i]));
      await sleep(60);
    }
    expect(p.client.readyState).toBe(WebSocket.OPEN);
    const closed = await within(p.clientClosed, 5000, 'the idle close');
    expect(closed.code).toBe(4408);
    expect(JSON.parse(closed.reason)).toMatchObject({ code: 'idle_timeout' });
    expect(await within(p.result, 5000, 'result')).toMatchObject({ closeCode: 4408, closedBy: 'gateway', reason: 'idle_timeout' });
    expect((await within(p.upstreamClosed, 5000, 'upstream close')).code).toBe(1000);
  });

  it('does not count the pongs of a client that answers the keepalive but sends nothing as activity', async () => {
    pair = await startRelayPair({ relay: { idleTimeoutMs: 500, pingIntervalMs: 100 } });
    const p = pair;
    let pongs = 0;
    p.gatewayClient.on('pong', () => pongs++);
    const closed = await within(p.clientClosed, 5000, 'the idle close');
    expect(pongs).toBeGreaterThanOrEqual(2);
    expect(closed.code).toBe(4408);
    expect(await within(p.result, 5000, 'result')).toMatchObject({ closeCode: 4408, reason: 'idle_timeout' });
  });

  it('ends a session at its maximum duration with 4410, the shorter of config and policy', async () => {
    expect(maxDurationMs(3_600_000, 60)).toBe(60_000);
    expect(maxDurationMs(60_000, 3600)).toBe(60_000);
    expect(maxDurationMs(0, undefined)).toBe(0);
    expect(maxDurationMs(0, 30)).toBe(30_000);
    pair = await startRelayPair({ relay: { maxDurationMs: 300, pingIntervalMs: 0 } });
    const closed = await within(pair.clientClosed, 5000, 'the max-duration close');
    expect(closed.code).toBe(4410);
    expect(JSON.parse(closed.reason)).toMatchObject({ code: 'max_duration' });
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closeCode: 4410, reason: 'max_duration' });
  });

  it('detects a client that stops answering pings, and tells the upstream with a normal close', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 100 }, client: { autoPong: false } });
    const result = await within(pair.result, 5000, 'result');
    expect(result).toMatchObject({ closedBy: 'gateway', reason: 'client_keepalive_timeout' });
    expect((await within(pair.upstreamClosed, 5000, 'upstream close')).code).toBe(1000);
  });

  it('detects an upstream that stops answering pings and closes the client with 4504', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 100 }, upstreamServer: { autoPong: false } });
    const closed = await within(pair.clientClosed, 5000, 'client close');
    expect(closed.code).toBe(4504);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closeCode: 4504, reason: 'upstream_keepalive_timeout' });
  });

  it('cuts off a slow consumer whose queue stays above the bound with 4413', async () => {
    const progress = { sent: 0 };
    pair = await startRelayPair({
      relay: { slowConsumerBytes: 256 * 1024, slowConsumerMs: 300, closeTimeoutMs: 300, pingIntervalMs: 0 },
      upstream: floodUpstream(64 * MiB, 64 * 1024, progress),
    });
    pair.client.pause();
    const result = await within(pair.result, 10_000, 'result');
    expect(result).toMatchObject({ closeCode: 4413, closedBy: 'gateway', reason: 'slow_consumer' });
    expect((await within(pair.upstreamClosed, 5000, 'upstream close')).code).toBe(1000);
  });

  it('keeps a consumer that is briefly behind', async () => {
    const progress = { sent: 0 };
    pair = await startRelayPair({
      relay: { slowConsumerBytes: 256 * 1024, slowConsumerMs: 2000, pingIntervalMs: 0 },
      upstream: floodUpstream(16 * MiB, 64 * 1024, progress),
    });
    const p = pair;
    p.client.pause();
    await eventually(() => p.relay.paused.upstream, 10_000, 'backpressure');
    p.client.resume();
    await eventually(() => receivedBytes(p) === 16 * MiB, 20_000, 'every byte');
    expect(p.client.readyState).toBe(WebSocket.OPEN);
  });
});

describe('close codes', () => {
  it.each([
    [1000, 1000, 'upstream_closed'],
    [1001, 1000, 'upstream_closed'],
    [1011, 4502, 'upstream_closed_1011'],
  ])('maps an upstream close %i to %i for the client', async (upstreamCode, clientCode, reason) => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    pair.upstreamPeer.close(upstreamCode);
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(clientCode);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closedBy: 'upstream', closeCode: clientCode, reason });
  });

  it('sends 4502, never 1006, when the upstream vanishes', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    pair.upstreamPeer.terminate();
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(4502);
  });

  it('passes a client close to the upstream as 1000, and a vanished client too', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    pair.client.close(1000);
    expect((await within(pair.upstreamClosed, 5000, 'upstream close')).code).toBe(1000);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closedBy: 'client', closeCode: 1000 });
    await pair.close();
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    pair.client.terminate();
    expect((await within(pair.upstreamClosed, 5000, 'upstream close')).code).toBe(1000);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ closedBy: 'client', closeCode: 1006 });
  });

  it('refuses text frames from the client with 1003 and from the upstream with 4502', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    pair.client.send('hello');
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(1003);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ reason: 'text_frame' });
    await pair.close();
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 } });
    pair.upstreamPeer.send('hello');
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(4502);
    expect(pair.received).toHaveLength(0);
  });

  it('caps frames per direction: 1009 for a large client frame, 4502 for an oversized upstream frame', async () => {
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 }, maxClientPayloadBytes: 1024 });
    pair.client.send(Buffer.alloc(1024));
    pair.client.send(Buffer.alloc(1025));
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(1009);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ reason: 'client_frame_too_large', closeCode: 1009 });
    expect(pair.relay.bytesFromClient).toBe(1024);
    await pair.close();
    pair = await startRelayPair({ relay: { pingIntervalMs: 0 }, maxUpstreamPayloadBytes: 4096 });
    pair.upstreamPeer.send(Buffer.alloc(4097));
    expect((await within(pair.clientClosed, 5000, 'client close')).code).toBe(4502);
    expect(await within(pair.result, 5000, 'result')).toMatchObject({ reason: 'upstream_frame_too_large' });
  });
});

describe('the upstream connect deadline', () => {
  let silent: Server | undefined;
  afterEach(() => void silent?.close());

  it('gives up on an upstream that accepts TCP but never answers, with 4504', async () => {
    const held: import('node:net').Socket[] = [];
    silent = createServer((socket) => void held.push(socket));
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const error = await connectUpstream(new URL(`ws://127.0.0.1:${port}/vnc`), { protocols: ['binary'], timeoutMs: 300 }).catch((e: unknown) => e);
    for (const socket of held) socket.destroy();
    expect(isGatewayError(error) && error.closeCode).toBe(4504);
  });

  it('reports an upstream that refuses the upgrade as 4502', async () => {
    silent = createServer((socket) => socket.end('HTTP/1.1 403 Forbidden\r\nContent-Length: 0\r\nConnection: close\r\n\r\n'));
    await new Promise<void>((resolve) => silent!.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as AddressInfo).port;
    const error = await connectUpstream(new URL(`ws://127.0.0.1:${port}/vnc`), { protocols: ['binary'], timeoutMs: 2000 }).catch((e: unknown) => e);
    expect(isGatewayError(error) && error.closeCode).toBe(4502);
  });
});
