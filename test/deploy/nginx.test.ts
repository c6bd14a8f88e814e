// deploy/nginx/gateway.conf in front of the real gateway: real nginx terminating TLS, a ticket
// call and a relayed WebSocket session through it, nginx's request id reaching the gateway's
// log, and /metrics kept off the front door. Skipped where nginx is not installed.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { request } from 'node:https';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createSelfSignedCertificate } from '../../simulator/index.js';
import { eventually, startHarness, within, type Harness } from '../helpers/gateway-harness.js';

const CONF = fileURLToPath(new URL('../../deploy/nginx/gateway.conf', import.meta.url));
const hasNginx = spawnSync('nginx', ['-v'], { stdio: 'ignore' }).status === 0;

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function httpsCall(url: string, ca: string, init: { method?: string; headers?: Record<string, string>; body?: string } = {}): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(url, { method: init.method ?? 'GET', headers: init.headers, ca, timeout: 5000 }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }));
    });
    req.on('timeout', () => req.destroy(new Error('timed out')));
    req.on('error', reject);
    req.end(init.body);
  });
}

describe.skipIf(!hasNginx)('nginx in front of the gateway (deploy/nginx/gateway.conf)', () => {
  let h: Harness;
  let nginx: ChildProcess | undefined;
  let base: string;
  let ca: string;
  const nginxErrors: string[] = [];

  beforeAll(async () => {
    h = await startHarness({ store: 'memory', env: { TRUST_PROXY: '1' }, instances: [{ id: 'lhins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } }] });
    const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-nginx-'));
    const tls = await createSelfSignedCertificate(dir);
    ca = tls.cert;
    const port = await freePort();
    base = `https://127.0.0.1:${port}`;
    // The shipped server block, pointed at this gateway and these files instead of compose's names.
    const conf = readFileSync(CONF, 'utf8')
      .replace('server gateway:8080', `server 127.0.0.1:${h.gateway.port}`)
      .replace('http://trial-sign-in:8081', 'http://127.0.0.1:9')
      .replace('listen 8443 ssl', `listen 127.0.0.1:${port} ssl`)
      .replace('/certs/nginx-cert.pem', tls.certPath)
      .replace('/certs/nginx-key.pem', tls.keyPath)
      .replace('/dev/stdout', join(dir, 'access.log'));
    writeFileSync(join(dir, 'gateway.conf'), conf);
    mkdirSync(join(dir, 'temp'));
    writeFileSync(
      join(dir, 'nginx.conf'),
      [
        'daemon off;',
        'worker_processes 1;',
        `pid ${join(dir, 'nginx.pid')};`,
        `error_log ${join(dir, 'error.log')} warn;`,
        'events { worker_connections 64; }',
        'http {',
        ...['client_body', 'proxy', 'fastcgi', 'uwsgi', 'scgi'].map((t) => `  ${t}_temp_path ${join(dir, 'temp', t)};`),
        `  include ${join(dir, 'gateway.conf')};`,
        '}',
      ].join('\n'),
    );
    nginx = spawn('nginx', ['-p', dir, '-c', join(dir, 'nginx.conf')], { stdio: ['ignore', 'ignore', 'pipe'], detached: true });
    nginx.stderr?.on('data', (c: Buffer) => nginxErrors.push(c.toString()));
    const deadline = Date.now() + 10_000;
    for (;;) {
      const up = await httpsCall(`${base}/healthz`, ca).then((r) => r.status === 200, () => false);
      if (up) break;
      if (nginx.exitCode !== null || Date.now() > deadline) throw new Error(`nginx did not come up: ${nginxErrors.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  });

  afterAll(async () => {
    if (nginx?.pid !== undefined && nginx.exitCode === null) process.kill(-nginx.pid, 'SIGQUIT');
    await h?.close();
  });

  it('issues a ticket and relays a WebSocket session through TLS and the upgrade', async () => {
    const ticketRes = await httpsCall(`${base}/api/v1/instances/lhins-echo0001/tickets`, ca, {
      method: 'POST',
      headers: { Authorization: `Bearer ${await h.token()}`, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(ticketRes.status).toBe(201);
    const { ticket } = JSON.parse(ticketRes.body) as { ticket: string };

    const ws = new WebSocket(`${base.replace('https', 'wss')}/ws/instances/lhins-echo0001`, ['binary', `vnc-gateway.ticket.${ticket}`], { ca, perMessageDeflate: false });
    const received: Buffer[] = [];
    ws.on('message', (data: Buffer) => received.push(data));
    ws.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => ws.once('close', (code: number) => resolve(code)));
    await within(new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
    }), 5000, 'open through nginx');
    const sent = randomBytes(50_000);
    ws.send(sent);
    await eventually(() => received.reduce((n, b) => n + b.length, 0) >= sent.length, 5000, 'echo through nginx');
    expect(Buffer.concat(received).equals(sent)).toBe(true);
    ws.close(1000);
    expect(await within(closed, 5000, 'close')).toBe(1000);

    await eventually(() => h.audit().some((r) => r.type === 'session.ended'), 5000, 'session.ended');
    const ended = h.audit().find((r) => r.type === 'session.ended');
    // TRUST_PROXY=1 believes nginx's X-Forwarded-For: the client's address, not nginx's.
    expect(ended?.clientIp).toBe('127.0.0.1');
  });

  it("passes nginx's request id to the gateway, which logs it next to its own", () => {
    const requests = h.logLines.map((l) => JSON.parse(l) as Record<string, unknown>).filter((l) => l.msg === 'http request' && l.path === '/api/v1/instances/lhins-echo0001/tickets');
    expect(requests[0]?.proxyRequestId).toMatch(/^[0-9a-f]{32}$/);
  });

  it('does not publish /metrics', async () => {
    const res = await httpsCall(`${base}/metrics`, ca);
    expect(res.status).toBe(404);
    expect(res.body).not.toContain('vnc_gateway_');
  });
});
