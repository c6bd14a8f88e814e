// Tickets through the real gateway with Redis: replay, another instance, expiry
// (TICKET_TTL_S=1), forged; and the concurrent double-spend across TWO gateway processes
// (`gateway/main.ts` children sharing one Redis): exactly one redeemer wins, every time.

import { spawn, type ChildProcess } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CREDENTIALS } from '../../simulator/index.js';
import { eventually, startHarness, within, type Harness } from '../helpers/gateway-harness.js';
import { describeOutcome, outcomeOf } from '../helpers/ws-outcome.js';

const INSTANCE = 'lhins-echo0001';
const OTHER = 'lhins-echo0002';
const ROOT = fileURLToPath(new URL('../../', import.meta.url));

let h: Harness;

beforeAll(async () => {
  h = await startHarness({
    store: 'redis',
    instances: [
      { id: INSTANCE, state: 'RUNNING', vnc: { kind: 'echo' } },
      { id: OTHER, state: 'RUNNING', vnc: { kind: 'echo' } },
    ],
    env: { TICKET_TTL_S: '1' },
  });
});

afterAll(async () => {
  await h?.close();
});

async function ticketFor(instanceId: string): Promise<string> {
  const res = await h.requestTicket(instanceId, await h.token());
  expect(res.status).toBe(201);
  return res.body.ticket as string;
}

describe('one gateway', () => {
  it('refuses a replayed ticket (subprotocol, then ?ticket=) with 4401', async () => {
    const ticket = await ticketFor(INSTANCE);
    const first = h.open(INSTANCE, { ticket });
    await within(first.opened, 5000, 'first open');
    const replay = h.open(INSTANCE, { query: `?ticket=${ticket}`, protocols: ['binary'] });
    expect(describeOutcome(await outcomeOf(replay))).toBe('close 4401');
    first.ws.close(1000);
    await within(first.closed, 5000, 'close');
  });

  it('refuses a ticket on another instance, and burns it', async () => {
    const ticket = await ticketFor(INSTANCE);
    expect(describeOutcome(await outcomeOf(h.open(OTHER, { ticket })))).toBe('close 4401');
    expect(describeOutcome(await outcomeOf(h.open(INSTANCE, { ticket })))).toBe('close 4401');
  });

  it('refuses an expired ticket (TICKET_TTL_S=1)', async () => {
    const res = await h.requestTicket(INSTANCE, await h.token());
    const expiresAt = Date.parse(res.body.expiresAt as string);
    await eventually(() => Date.now() > expiresAt + 100, 3000, 'the ticket to expire');
    const s = h.open(INSTANCE, { ticket: res.body.ticket as string });
    expect(describeOutcome(await outcomeOf(s))).toBe('close 4401');
    expect(s.received).toHaveLength(0);
  });

  it.each([
    ['well-shaped but never issued', 'A'.repeat(43)],
    ['too short', 'abc'],
    ['with characters no ticket has', `${'A'.repeat(42)}!`],
  ])('refuses a forged ticket (%s)', async (_name, forged) => {
    const s = h.open(INSTANCE, { query: `?ticket=${encodeURIComponent(forged)}`, protocols: ['binary'] });
    expect(describeOutcome(await outcomeOf(s))).toBe('close 4401');
  });
});

interface Child {
  process: ChildProcess;
  url: string;
  stderr: string[];
}

/** Starts `gateway/main.ts` in its own process group and resolves with its URL once it listens. */
async function startChild(env: Record<string, string>): Promise<Child> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '', ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
    detached: true,
  });
  const stderr: string[] = [];
  const url = await within(
    new Promise<string>((resolve, reject) => {
      let buffered = '';
      child.stderr!.on('data', (chunk: Buffer) => {
        buffered += chunk.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop() ?? '';
        for (const line of lines) {
          stderr.push(line);
          if (line.includes('gateway listening')) resolve(`http://127.0.0.1:${(JSON.parse(line) as { port: number }).port}`);
        }
      });
      child.once('exit', (code) => reject(new Error(`gateway child exited with ${code}: ${stderr.join('\n')}`)));
    }),
    30_000,
    'a gateway child to listen',
  );
  return { process: child, url, stderr };
}

function stopChild(child: Child | undefined): Promise<void> {
  if (child === undefined || child.process.exitCode !== null || child.process.pid === undefined) return Promise.resolve();
  const exited = new Promise<void>((resolve) => child.process.once('exit', () => resolve()));
  try {
    process.kill(-child.process.pid, 'SIGTERM');
  } catch {
    return Promise.resolve();
  }
  return within(exited, 10_000, 'a gateway child to exit').catch(() => {
    process.kill(-child.process.pid!, 'SIGKILL');
  });
}

describe('two gateway processes sharing Redis', () => {
  let a: Child | undefined;
  let b: Child | undefined;
  const cleanup = (): void => {
    for (const child of [a, b]) if (child?.process.pid && child.process.exitCode === null) process.kill(-child.process.pid, 'SIGKILL');
  };

  beforeAll(async () => {
    process.once('exit', cleanup);
    const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-replicas-'));
    const caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, h.caPem);
    const policyFile = join(dir, 'policy.yaml');
    writeFileSync(policyFile, 'rules:\n  - groups: [sre]\n    instances: ["*"]\n    role: operator\n');
    const env = {
      PORT: '0',
      HOST: '127.0.0.1',
      TENCENTCLOUD_SECRET_ID: DEMO_CREDENTIALS.secretId,
      TENCENTCLOUD_SECRET_KEY: DEMO_CREDENTIALS.secretKey,
      TENCENTCLOUD_LIGHTHOUSE_ENDPOINT: h.simulator.lighthouseApiUrl,
      TENCENTCLOUD_CVM_ENDPOINT: h.simulator.cvmApiUrl,
      UPSTREAM_HOSTS: 'localhost',
      NODE_EXTRA_CA_CERTS: caFile,
      AUTH_PUBLIC_KEY_FILE: h.idp.publicKeyFile,
      AUTH_ISSUER: h.idp.issuer,
      AUTH_AUDIENCE: h.idp.audience,
      POLICY_FILE: policyFile,
      REDIS_URL: 'redis://127.0.0.1:6379',
      REDIS_KEY_PREFIX: `test:${randomUUID()}:`,
      LOG_LEVEL: 'info',
    };
    [a, b] = await Promise.all([startChild(env), startChild(env)]);
  }, 60_000);

  afterAll(async () => {
    await Promise.all([stopChild(a), stopChild(b)]);
    process.off('exit', cleanup);
  });

  /** Opens the ticket's WebSocket on `base`; resolves 'open' once a byte round-trips, else the close code. */
  function redeem(base: string, ticket: string): Promise<string> {
    return within(
      new Promise<string>((resolve) => {
        const ws = new WebSocket(`${base.replace(/^http/, 'ws')}/ws/instances/${INSTANCE}`, ['binary', `vnc-gateway.ticket.${ticket}`]);
        ws.on('message', () => {
          resolve('relayed');
          ws.close(1000);
        });
        ws.once('open', () => ws.send(Buffer.from([42])));
        ws.once('unexpected-response', (_req, res) => resolve(`http ${res.statusCode}`));
        ws.once('close', (code) => resolve(`close ${code}`));
        ws.on('error', () => undefined);
      }),
      10_000,
      'a redemption',
    );
  }

  it('lets exactly one of two simultaneous redemptions on different processes win, every time', async () => {
    for (let round = 0; round < 5; round++) {
      // Issued by one process, redeemed at both at once.
      const res = await fetch(`${a!.url}/api/v1/instances/${INSTANCE}/tickets`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${await h.token()}` },
      });
      expect(res.status).toBe(201);
      const { ticket } = (await res.json()) as { ticket: string };
      const outcomes = await Promise.all([redeem(a!.url, ticket), redeem(b!.url, ticket)]);
      expect(outcomes.filter((o) => o === 'relayed'), `round ${round}: ${outcomes.join(', ')}`).toHaveLength(1);
      expect(outcomes.filter((o) => o === 'close 4401'), `round ${round}: ${outcomes.join(', ')}`).toHaveLength(1);
    }
  });

  it('keeps serving after SIGHUP (a policy reload, not the default hang-up exit)', async () => {
    process.kill(a!.process.pid!, 'SIGHUP');
    await eventually(() => a!.stderr.some((line) => line.includes('"trigger":"SIGHUP"')) || a!.process.exitCode !== null, 5000, 'SIGHUP handled');
    expect(a!.process.exitCode).toBeNull();
    expect((await fetch(`${a!.url}/healthz`)).status).toBe(200);
  });
});
