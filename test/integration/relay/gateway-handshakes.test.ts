// The relay's two handshakes through the real gateway: no compression on either leg, the
// client's subprotocols offered upstream without the ticket, and an upstream that takes the
// connection but never answers the upgrade ends the session 4504 at the connect deadline.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';

const INSTANCES = [
  { id: 'lhins-echo0001', state: 'RUNNING' as const, vnc: { kind: 'echo' as const } },
  { id: 'lhins-silent01', state: 'RUNNING' as const, vnc: { kind: 'silent' as const } },
];

describe('the relay handshakes through the gateway', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { UPSTREAM_CONNECT_TIMEOUT_MS: '800' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('negotiates no compression with a client that offers it, and offers none upstream', async () => {
    const ticket = (await h.requestTicket('lhins-echo0001', await h.token())).body.ticket as string;
    const ws = new WebSocket(`${h.gateway.url.replace(/^http/, 'ws')}/ws/instances/lhins-echo0001`, ['binary', `vnc-gateway.ticket.${ticket}`], {
      perMessageDeflate: true,
    });
    ws.on('error', () => undefined);
    const upgraded = new Promise<Record<string, string | string[] | undefined>>((resolve) => ws.once('upgrade', (res) => resolve(res.headers)));
    const opened = new Promise((resolve) => ws.once('open', resolve));
    const upgrade = await within(upgraded, 5000, 'the 101');
    await within(opened, 5000, 'open');
    expect(upgrade['sec-websocket-extensions']).toBeUndefined();
    expect(ws.extensions).toBe('');
    expect(ws.protocol).toBe('binary');
    // The echo still works uncompressed, and the upstream saw exactly what the client offered
    // besides its ticket, with no extension.
    const echoed = new Promise<Buffer>((resolve) => ws.once('message', (data: Buffer) => resolve(data)));
    ws.send(Buffer.from('plain'));
    expect((await within(echoed, 5000, 'the echo')).toString()).toBe('plain');
    const offer = h.simulator.vncHandshakes.at(-1);
    expect(offer).toEqual({ instanceId: 'lhins-echo0001', protocols: ['binary'], extensions: undefined });
    ws.close(1000);
  });

  it('offers the upstream every subprotocol the client offered except the ticket, in order', async () => {
    const ticket = (await h.requestTicket('lhins-echo0001', await h.token())).body.ticket as string;
    const s = h.open('lhins-echo0001', { protocols: ['base64', `vnc-gateway.ticket.${ticket}`, 'binary'] });
    await within(s.opened, 5000, 'open');
    expect(s.ws.protocol).toBe('binary');
    // The client is accepted before the upstream exists: the echo proves the upstream is there.
    s.ws.send(Buffer.from('x'));
    await eventually(() => s.received.length === 1, 5000, 'the echo');
    const offer = h.simulator.vncHandshakes.at(-1)!;
    expect(offer.protocols).toEqual(['base64', 'binary']);
    expect(offer.protocols.join(',')).not.toContain(ticket);
    s.ws.close(1000);
    await within(s.closed, 5000, 'close');
  });

  it('ends a session whose upstream never answers the upgrade with 4504 at the connect deadline', async () => {
    const ticket = (await h.requestTicket('lhins-silent01', await h.token())).body.ticket as string;
    const startedAt = Date.now();
    const s = h.open('lhins-silent01', { ticket });
    await within(s.opened, 5000, 'open');
    const closed = await within(s.closed, 10_000, 'the close');
    expect(closed.code).toBe(4504);
    expect(JSON.parse(closed.reason)).toMatchObject({ code: 'upstream_timeout' });
    // Bounded by the deadline, not by anything longer (the URL's 15 s, the test's 10 s).
    expect(Date.now() - startedAt).toBeLessThan(800 + 4000);
    expect(h.simulator.vncHandshakes.some((offer) => offer.instanceId === 'lhins-silent01')).toBe(true);
    expect(h.audit().some((r) => r.type === 'session.started' && r.instanceId === 'lhins-silent01')).toBe(false);
    expect(h.audit().filter((r) => r.type === 'session.denied' && r.instanceId === 'lhins-silent01').map((r) => (r as { code?: string }).code)).toEqual(['upstream_timeout']);
  });
});
