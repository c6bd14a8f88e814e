// Egress through HTTPS_PROXY: the Tencent API call and the upstream WebSocket both ride CONNECT
// tunnels of a local proxy, NO_PROXY is honoured, and TLS stays verified through the tunnel.

import { mkdtempSync } from 'node:fs';
import { createServer as createTlsServer, type Server as TlsServer } from 'node:tls';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../../simulator/index.js';
import { eventually, startHarness, within, type Harness } from '../../helpers/gateway-harness.js';
import { startConnectProxy, type ConnectProxy } from './connect-proxy.js';

const INSTANCES = [{ id: 'lhins-echo0001', state: 'RUNNING' as const, vnc: { kind: 'echo' as const } }];

describe('egress through HTTPS_PROXY', () => {
  let h: Harness | undefined;
  let proxy: ConnectProxy | undefined;
  let mitm: TlsServer | undefined;
  afterEach(async () => {
    await h?.close();
    await proxy?.close();
    mitm?.close();
    h = undefined;
    proxy = undefined;
    mitm = undefined;
  });

  async function echoOnce(harness: Harness): Promise<void> {
    const ticket = (await harness.requestTicket('lhins-echo0001', await harness.token())).body.ticket as string;
    const s = harness.open('lhins-echo0001', { ticket });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from([7, 8, 9]));
    await eventually(() => s.received.length > 0, 5000, 'echo');
    expect([...s.received[0]!]).toEqual([7, 8, 9]);
    s.ws.close(1000);
    await within(s.closed, 5000, 'close');
  }

  it('sends the API call and the upstream WebSocket through CONNECT tunnels', async () => {
    proxy = await startConnectProxy();
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { HTTPS_PROXY: proxy.url } });
    await echoOnce(h);
    const apiAuthority = new URL(h.simulator.lighthouseApiUrl).host;
    expect(proxy.tunnels).toContain(apiAuthority);
    expect(proxy.tunnels).toContain(`localhost:${h.simulator.vncPort}`);
  });

  it('goes direct to hosts listed in NO_PROXY', async () => {
    proxy = await startConnectProxy();
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { HTTPS_PROXY: proxy.url, NO_PROXY: 'example.com,localhost' } });
    await echoOnce(h);
    expect(proxy.tunnels).toContain(new URL(h.simulator.lighthouseApiUrl).host);
    expect(proxy.tunnels.some((t) => t.startsWith('localhost:'))).toBe(false);
  });

  it('refuses a proxy that answers with a server the gateway does not trust', async () => {
    const tls = await createSelfSignedCertificate(mkdtempSync(join(tmpdir(), 'vnc-gateway-mitm-')));
    mitm = createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => socket.on('error', () => undefined));
    mitm.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => mitm!.listen(0, '127.0.0.1', resolve));
    proxy = await startConnectProxy({ hijackTo: { host: '127.0.0.1', port: (mitm.address() as AddressInfo).port } });
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { HTTPS_PROXY: proxy.url } });
    const ticket = (await h.requestTicket('lhins-echo0001', await h.token())).body.ticket as string;
    const s = h.open('lhins-echo0001', { ticket });
    const closed = await within(s.closed, 10_000, 'close');
    expect([4502, 4504]).toContain(closed.code);
    expect(proxy.tunnels.length).toBeGreaterThan(0);
    expect(h.audit().some((r) => r.type === 'session.started')).toBe(false);
  });

  it('verifies the upstream WebSocket through the tunnel on its own, with the API call going direct', async () => {
    const tls = await createSelfSignedCertificate(mkdtempSync(join(tmpdir(), 'vnc-gateway-mitm-')));
    mitm = createTlsServer({ cert: tls.cert, key: tls.key }, (socket) => socket.on('error', () => undefined));
    mitm.on('tlsClientError', () => undefined);
    await new Promise<void>((resolve) => mitm!.listen(0, '127.0.0.1', resolve));
    // Only the VNC endpoint's host (localhost) is diverted; the API (127.0.0.1) bypasses the proxy.
    proxy = await startConnectProxy({ hijackTo: { host: '127.0.0.1', port: (mitm.address() as AddressInfo).port }, hijackHosts: ['localhost'] });
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { HTTPS_PROXY: proxy.url, NO_PROXY: '127.0.0.1' } });
    const ticket = (await h.requestTicket('lhins-echo0001', await h.token())).body.ticket as string;
    const s = h.open('lhins-echo0001', { ticket });
    const closed = await within(s.closed, 10_000, 'close');
    // Tencent answered with a URL; the upstream behind the proxy failed its certificate check.
    expect(h.simulator.calls.filter((c) => c.action === 'DescribeInstanceVncUrl').map((c) => c.code)).toEqual(['ok']);
    expect(proxy.tunnels).toEqual([`localhost:${h.simulator.vncPort}`]);
    expect(closed.code).toBe(4502);
    expect(s.received).toHaveLength(0);
    expect(h.audit().some((r) => r.type === 'session.started')).toBe(false);
  });
});
