// The gateway as operators run it: a child process configured only by its environment,
// trusting the simulator's private CA through NODE_EXTRA_CA_CERTS, audit on stdout, logs on
// stderr, and neither holding an upstream URL secret.

import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { verifyFiles } from '../../gateway/audit/audit-verify.js';
import { createLocalIdp, type LocalIdp } from '../../scripts/demo/local-idp.js';
import { localStackEnv } from '../../scripts/demo/local-stack-env.js';
import { createSelfSignedCertificate, DEMO_CREDENTIALS, startSimulator, type Simulator } from '../../simulator/index.js';
import { eventually, within } from '../helpers/gateway-harness.js';

interface GatewayChild {
  child: ChildProcess;
  url: string;
  stdout: string[];
  stderr: string[];
  exited: Promise<number | null>;
}

const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');

function spawnGateway(env: Record<string, string>): GatewayChild {
  const child = spawn(TSX, ['gateway/main.ts'], {
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
    detached: true,
  });
  const stdout: string[] = [];
  const stderr: string[] = [];
  child.stdout?.setEncoding('utf8').on('data', (chunk: string) => stdout.push(chunk));
  child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  return { child, url: '', stdout, stderr, exited };
}

async function listening(g: GatewayChild): Promise<string> {
  await eventually(() => /"msg":"gateway listening"/.test(g.stderr.join('')) || g.child.exitCode !== null, 20_000, 'gateway start');
  const match = /"port":(\d+)/.exec(g.stderr.join(''));
  if (!match) throw new Error(`gateway did not start: ${g.stderr.join('')}`);
  return `http://127.0.0.1:${match[1]}`;
}

function kill(g: GatewayChild): void {
  try {
    if (g.child.pid) process.kill(-g.child.pid, 'SIGKILL');
  } catch {
    // already gone
  }
}

describe('the gateway process', () => {
  let simulator: Simulator;
  let idp: LocalIdp;
  let baseEnv: Record<string, string>;
  let caPath: string;
  const children: GatewayChild[] = [];

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-proc-'));
    const tls = await createSelfSignedCertificate(dir);
    caPath = tls.certPath;
    simulator = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, instances: [{ id: 'lhins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } }] });
    idp = await createLocalIdp({ dir });
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, 'rules:\n  - groups: [sre]\n    instances: ["*"]\n    role: operator\n');
    baseEnv = {
      PORT: '0',
      HOST: '127.0.0.1',
      ...localStackEnv({ simulator, idp, policyFile }),
    };
  });

  afterAll(async () => {
    for (const g of children) kill(g);
    await simulator?.close();
  });

  async function session(url: string): Promise<{ code: number; echoed: boolean }> {
    const token = await idp.sign({ sub: 'sam', email: 'sam@example.com', groups: ['sre'] });
    const res = await fetch(`${url}/api/v1/instances/lhins-echo0001/tickets`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    expect(res.status).toBe(201);
    const { ticket } = (await res.json()) as { ticket: string };
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws/instances/lhins-echo0001`, ['binary', `vnc-gateway.ticket.${ticket}`]);
    let echoed = false;
    ws.on('message', () => {
      echoed = true;
      ws.close(1000);
    });
    ws.on('open', () => ws.send(Buffer.from('hello')));
    ws.on('error', () => undefined);
    const code = await within(new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c))), 10_000, 'session close');
    return { code, echoed };
  }

  it('trusts a private CA through NODE_EXTRA_CA_CERTS, relays, audits on stdout and exits cleanly on SIGTERM', async () => {
    // Debug level: every log line the gateway can write is in the leak scan below.
    const g = spawnGateway({ ...baseEnv, NODE_EXTRA_CA_CERTS: caPath, LOG_LEVEL: 'debug' });
    children.push(g);
    const url = await listening(g);
    expect((await fetch(`${url}/healthz`)).status).toBe(200);
    const { code, echoed } = await session(url);
    expect(echoed).toBe(true);
    expect(code).toBe(1000);
    await eventually(() => g.stdout.join('').includes('"type":"session.ended"'), 5000, 'session.ended on stdout');
    const audit = g.stdout.join('').trim().split('\n').map((line) => JSON.parse(line) as { type: string });
    expect(audit.map((r) => r.type)).toEqual(['ticket.issued', 'session.started', 'session.ended']);
    expect(g.stderr.join('')).not.toContain('"type":"session.started"');
    g.child.kill('SIGTERM');
    expect(await within(g.exited, 15_000, 'exit')).toBe(0);
    // Nothing the process wrote, audit or log, holds the upstream URL, its secret or the API key.
    const output = g.stdout.join('') + g.stderr.join('');
    expect(output).toContain('"msg":"gateway listening"');
    for (const fixed of ['wss://', 'wss%3A', '/vnc?s=', 's%3D', DEMO_CREDENTIALS.secretKey]) expect(output).not.toContain(fixed);
    expect(simulator.issuedVncSecrets.length).toBeGreaterThan(0);
    for (const secret of simulator.issuedVncSecrets) expect(output).not.toContain(secret.slice(0, 12));
  });

  it('drains on SIGTERM: a live session gets 1001 after SHUTDOWN_GRACE_S, its records are on disk and the chain verifies', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'vnc-gateway-drain-')), 'audit.log');
    const g = spawnGateway({ ...baseEnv, NODE_EXTRA_CA_CERTS: caPath, AUDIT_FILE: file, AUDIT_STDOUT: 'false', SHUTDOWN_GRACE_S: '1' });
    children.push(g);
    const url = await listening(g);
    const token = await idp.sign({ sub: 'sam', email: 'sam@example.com', groups: ['sre'] });
    const res = await fetch(`${url}/api/v1/instances/lhins-echo0001/tickets`, { method: 'POST', headers: { Authorization: `Bearer ${token}` } });
    const { ticket } = (await res.json()) as { ticket: string };
    const ws = new WebSocket(`${url.replace('http', 'ws')}/ws/instances/lhins-echo0001`, ['binary', `vnc-gateway.ticket.${ticket}`]);
    ws.on('error', () => undefined);
    const echoed = new Promise<void>((resolve) => ws.once('message', () => resolve()));
    const closed = new Promise<number>((resolve) => ws.once('close', (c: number) => resolve(c)));
    ws.on('open', () => ws.send(Buffer.from('still here')));
    await within(echoed, 10_000, 'echo');
    g.child.kill('SIGTERM');
    expect(await within(closed, 15_000, 'drain close')).toBe(1001);
    expect(await within(g.exited, 15_000, 'exit')).toBe(0);
    const records = readFileSync(file, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as { type: string; closeCode?: number });
    expect(records.filter((r) => r.type === 'session.started')).toHaveLength(1);
    expect(records.filter((r) => r.type === 'session.ended')).toEqual([expect.objectContaining({ closeCode: 1001, closedBy: 'gateway' })]);
    expect((await verifyFiles([file])).ok).toBe(true);
  });

  it('keeps TLS verification on: without the CA the API call fails and the session ends 4502', async () => {
    const g = spawnGateway(baseEnv);
    children.push(g);
    const url = await listening(g);
    const { code, echoed } = await session(url);
    expect(echoed).toBe(false);
    expect(code).toBe(4502);
    kill(g);
  });

  it('stops with one message listing every configuration problem', async () => {
    const g = spawnGateway({ PORT: 'x', TENCENTCLOUD_REGION: 'nowhere!', TENCENTCLOUD_CREDENTIALS_FILE: '/nonexistent/tencentcloud/credentials' });
    children.push(g);
    expect(await within(g.exited, 20_000, 'exit')).toBe(2);
    const message = g.stderr.join('');
    for (const name of ['PORT', 'TENCENTCLOUD_REGION', 'TENCENTCLOUD_CREDENTIALS_FILE', 'AUTH_ISSUER', 'AUTH_AUDIENCE', 'POLICY_FILE']) expect(message).toContain(name);
    expect(message.match(/Invalid configuration/g)).toHaveLength(1);
  });
});
