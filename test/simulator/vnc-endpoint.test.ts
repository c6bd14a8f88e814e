import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createSelfSignedCertificate, startSimulator, type SelfSignedCertificate, type Simulator } from '../../simulator/index.js';
import { ByteQueue, callApi, codeOf, decodeVncUrl, within } from './helpers.js';

interface Opened {
  ws: WebSocket;
  bytes: ByteQueue;
  closed: Promise<{ code: number; reason: string }>;
}

/** Opens a WebSocket, collecting frames from the first one; rejects with the HTTP status of a refused upgrade. */
function open(url: URL, ca: string | undefined, protocols: string[] = ['binary']): Promise<Opened> {
  const ws = new WebSocket(url, protocols, ca !== undefined ? { ca } : {});
  const bytes = new ByteQueue();
  // Attached before `open` so a frame arriving with the 101 is not lost.
  ws.on('message', (data: Buffer) => bytes.push(data));
  const closed = new Promise<{ code: number; reason: string }>((resolve) => {
    ws.on('close', (code, reason) => {
      bytes.end(new Error(`closed ${code}`));
      resolve({ code, reason: reason.toString() });
    });
  });
  return within(
    5000,
    new Promise<Opened>((resolve, reject) => {
      ws.once('open', () => resolve({ ws, bytes, closed }));
      ws.once('unexpected-response', (_req, res) => {
        reject(new Error(`HTTP ${res.statusCode}`));
        res.resume();
        ws.terminate();
      });
      ws.once('error', reject);
    }),
    'the WebSocket to open',
  );
}

describe('simulator VNC endpoint over TLS', () => {
  let cert: SelfSignedCertificate;
  let sim: Simulator;
  let tcpServer: Server;
  const tcpSockets = new Set<Socket>();
  const clock = { ms: Date.now() };
  const now = (): number => clock.ms;

  beforeAll(async () => {
    cert = await createSelfSignedCertificate();
    // A stand-in TCP VNC server: greets, then answers every chunk with its bytes reversed.
    tcpServer = createServer((socket) => {
      tcpSockets.add(socket);
      socket.on('close', () => tcpSockets.delete(socket));
      socket.write('RFB 003.008\n');
      socket.on('data', (chunk) => socket.write(Buffer.from(chunk).reverse()));
    });
    await new Promise<void>((resolve) => tcpServer.listen(0, '127.0.0.1', resolve));
    const tcpPort = (tcpServer.address() as { port: number }).port;
    sim = await startSimulator({
      tls: { cert: cert.cert, key: cert.key },
      now,
      apiRequestsPerSecond: 1000,
      connectsPerInstancePerMinute: 1000,
      instances: [
        { id: 'lhins-demo0001', state: 'RUNNING', vnc: { kind: 'builtin' } },
        { id: 'lhins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-tcp00001', state: 'RUNNING', vnc: { kind: 'tcp', host: '127.0.0.1', port: tcpPort } },
      ],
    });
  });
  afterAll(async () => {
    await sim?.close();
    for (const s of tcpSockets) s.destroy();
    await new Promise<void>((resolve) => (tcpServer ? tcpServer.close(() => resolve()) : resolve()));
  });

  async function vncUrl(instanceId = 'lhins-demo0001'): Promise<URL> {
    const res = await callApi(sim, { now, ca: cert.cert, body: { InstanceId: instanceId } });
    expect(codeOf(res)).toBe('ok');
    const url = decodeVncUrl(res.body.Response.InstanceVncUrl);
    expect(url.protocol).toBe('wss:');
    expect(url.host).toBe(`localhost:${sim.vncPort}`);
    return url;
  }

  it('serves the API over https with the generated certificate', () => {
    expect(sim.apiUrl).toMatch(/^https:\/\/127\.0\.0\.1:\d+$/);
  });

  it('accepts a VNC URL once over wss, choosing the binary subprotocol, then refuses it with 403', async () => {
    const url = await vncUrl();
    const before = sim.vncConnections;
    const first = await open(url, cert.cert, ['binary', 'base64']);
    expect(first.ws.protocol).toBe('binary');
    expect((await first.bytes.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    expect(sim.vncConnections).toBe(before + 1);
    first.ws.close(1000);
    await within(2000, first.closed, 'close');
    await expect(open(url, cert.cert)).rejects.toThrow('HTTP 403');
    expect(sim.vncConnections).toBe(before + 1);
  });

  it('refuses a VNC URL first used more than 15 s after it was issued', async () => {
    const late = await vncUrl();
    const onTime = await vncUrl();
    clock.ms += 14_999;
    const ok = await open(onTime, cert.cert);
    ok.ws.close();
    clock.ms += 2;
    await expect(open(late, cert.cert)).rejects.toThrow('HTTP 403');
  });

  it('refuses unknown tokens with 403 and other paths with 404', async () => {
    const url = await vncUrl();
    url.searchParams.set('s', randomBytes(32).toString('base64url'));
    await expect(open(url, cert.cert)).rejects.toThrow('HTTP 403');
    url.pathname = '/other';
    await expect(open(url, cert.cert)).rejects.toThrow('HTTP 404');
  });

  it('does not trust the endpoint without the CA', async () => {
    const url = await vncUrl();
    await expect(open(url, undefined)).rejects.toThrow(/self-signed|certificate/i);
  });

  it('echoes every binary message byte for byte, and picks no subprotocol when binary is not offered', async () => {
    const { ws, bytes } = await open(await vncUrl('lhins-echo0001'), cert.cert, []);
    expect(ws.protocol).toBe('');
    const payloads = [Buffer.from([0]), randomBytes(1000), randomBytes(1024 * 1024 + 7)];
    for (const p of payloads) ws.send(p);
    for (const p of payloads) expect((await bytes.read(p.length)).equals(p)).toBe(true);
    ws.close();
  });

  it('relays to a TCP VNC server both ways and closes the WebSocket normally when the server hangs up', async () => {
    const { ws, bytes, closed } = await open(await vncUrl('lhins-tcp00001'), cert.cert);
    expect((await bytes.read(12)).toString('latin1')).toBe('RFB 003.008\n');
    ws.send(Buffer.from([1, 2, 3]));
    expect([...(await bytes.read(3))]).toEqual([3, 2, 1]);
    for (const s of tcpSockets) s.end();
    expect((await within(2000, closed, 'close')).code).toBe(1000);
  });

  it('closes the TCP connection when the WebSocket closes', async () => {
    const { ws, bytes } = await open(await vncUrl('lhins-tcp00001'), cert.cert);
    await bytes.read(12);
    expect(tcpSockets.size).toBe(1);
    ws.close(1000);
    const deadline = Date.now() + 2000;
    while (tcpSockets.size > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    expect(tcpSockets.size).toBe(0);
  });

  it('ends live sessions of an instance that leaves RUNNING with a normal close', async () => {
    const { closed } = await open(await vncUrl('lhins-echo0001'), cert.cert);
    sim.setInstanceState('lhins-echo0001', 'STOPPED');
    expect((await within(2000, closed, 'close')).code).toBe(1000);
    sim.setInstanceState('lhins-echo0001', 'RUNNING');
  });
});

describe('simulator shutdown', () => {
  it('close() ends open sessions and both servers promptly', async () => {
    const sim = await startSimulator({ apiRequestsPerSecond: 1000 });
    const res = await callApi(sim, { body: { InstanceId: 'lhins-echo0001' } });
    const url = decodeVncUrl(res.body.Response.InstanceVncUrl);
    expect(url.protocol).toBe('ws:');
    const { closed } = await open(url, undefined);
    const started = Date.now();
    await within(3000, sim.close(), 'close()');
    expect(Date.now() - started).toBeLessThan(2000);
    expect((await within(2000, closed, 'session close')).code).toBe(1001);
    await expect(callApi(sim)).rejects.toThrow();
  });
});
