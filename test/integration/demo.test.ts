// `npm run demo` as a new user meets it: the script in its own process (own process group, a
// free port), the printed sign-in URL followed with a cookie jar, the simulator's fleet in the
// instance list, and a live RFB console through a ticket. The browser half is test/e2e.

import { spawn, type ChildProcess } from 'node:child_process';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { DEMO_INSTANCES } from '../../simulator/index.js';
import { eventually, within } from '../helpers/gateway-harness.js';

const TSX = join(process.cwd(), 'node_modules', '.bin', 'tsx');

/** The smallest cookie jar: name → value from every Set-Cookie seen, sent back on each request. */
function createCookieJar(): { store(res: Response): void; header(): string } {
  const cookies = new Map<string, string>();
  return {
    store(res) {
      for (const line of res.headers.getSetCookie()) {
        const [pair = ''] = line.split(';');
        const eq = pair.indexOf('=');
        if (eq > 0) cookies.set(pair.slice(0, eq).trim(), pair.slice(eq + 1).trim());
      }
    },
    header: () => [...cookies].map(([name, value]) => `${name}=${value}`).join('; '),
  };
}

describe('npm run demo', () => {
  let child: ChildProcess;
  let exited: Promise<number | null>;
  const stderr: string[] = [];
  let base = '';

  beforeAll(async () => {
    // Its own process group (detached), so the demo's simulator and gateway go with it.
    child = spawn(TSX, ['scripts/demo.ts'], {
      env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', PORT: '0' },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => stderr.push(chunk));
    exited = new Promise((resolve) => child.once('exit', (code) => resolve(code)));
    await eventually(() => /Open:\s+http:\/\/\S+\/demo\/sign-in/.test(stderr.join('')) || child.exitCode !== null, 45_000, 'the demo to print its URL');
    const match = /Open:\s+(http:\/\/\S+)\/demo\/sign-in/.exec(stderr.join(''));
    if (!match) throw new Error(`the demo did not start: ${stderr.join('')}`);
    base = match[1]!;
  });

  afterAll(async () => {
    // Even when a test failed: nothing of the demo may outlive the suite.
    if (child?.pid !== undefined && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
      await within(exited, 5000, 'the demo to die').catch(() => undefined);
    }
  });

  it('prints the real port it listens on, not the 0 it was given', () => {
    expect(base).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    expect(new URL(base).port).not.toBe('0');
  });

  it('signs in, lands on the instance list, and opens a live console of lhins-demo0001', async () => {
    const jar = createCookieJar();

    const signIn = await fetch(`${base}/demo/sign-in`, { redirect: 'manual' });
    expect(signIn.status).toBe(303);
    jar.store(signIn);
    const landing = new URL(signIn.headers.get('location') ?? '', base);
    expect(landing.pathname).toBe('/');
    const page = await fetch(landing, { headers: { Cookie: jar.header() } });
    expect(page.status).toBe(200);
    expect(await page.text()).toContain('/assets/instances.js');

    const list = await fetch(`${base}/api/v1/instances`, { headers: { Cookie: jar.header(), Origin: base } });
    expect(list.status).toBe(200);
    const { instances } = (await list.json()) as { instances: { instanceId: string; connectable: boolean }[] };
    const listed = instances.map((i) => i.instanceId);
    for (const instance of DEMO_INSTANCES) expect(listed).toContain(instance.id);
    expect(instances.find((i) => i.instanceId === 'lhins-demo0001')?.connectable).toBe(true);

    const ticketRes = await fetch(`${base}/api/v1/instances/lhins-demo0001/tickets`, {
      method: 'POST',
      headers: { Cookie: jar.header(), Origin: base, 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(ticketRes.status).toBe(201);
    const { ticket, websocketPath } = (await ticketRes.json()) as { ticket: string; websocketPath: string };

    const ws = new WebSocket(`${base.replace(/^http/, 'ws')}${websocketPath}`, ['binary', `vnc-gateway.ticket.${ticket}`], { headers: { Origin: base } });
    ws.on('error', () => undefined);
    // Listen before 'open': the banner can arrive in the same read as the 101.
    const banner = new Promise<string>((resolve, reject) => {
      ws.once('message', (data: Buffer) => resolve(data.toString('latin1')));
      ws.once('close', (code: number, reason: Buffer) => reject(new Error(`closed ${code} ${reason.toString()}`)));
    });
    expect(await within(banner, 10_000, 'the RFB banner')).toBe('RFB 003.008\n');
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    ws.close(1000);
    await within(closed, 5000, 'close');
  });

  it('stops with its whole process group on SIGTERM', async () => {
    process.kill(-child.pid!, 'SIGTERM');
    expect(await within(exited, 15_000, 'the demo to exit')).toBe(0);
  });
});
