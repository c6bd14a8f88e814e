// The console against a real VNC server: Xvfb + x11vnc behind the simulator's TLS WebSocket
// endpoint (a `tcp` VNC target), so noVNC in Chromium speaks to x11vnc through the gateway and
// Tencent's stand-in. Judged by the X root window's colour on the canvas and by text typed on
// the page arriving in an xterm on that display.

import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { createConnection, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser } from 'playwright-core';
import { eventually, startHarness, type Harness } from '../helpers/gateway-harness.js';
import { launchChromium, requireBinary, sampleCanvas, screenshot, signedInContext, waitForStatus } from './browser.js';

const ROOT_COLOUR = '#3366cc';
const ROOT_RGB: [number, number, number] = [0x33, 0x66, 0xcc];
const INSTANCE = 'lhins-x11vnc01';
const TYPED = 'typed-in-chromium 42';
const TO_REMOTE = 'from the browser to X 7';

const BINARIES: [string, string][] = [
  ['/usr/bin/Xvfb', 'xvfb'],
  ['/usr/bin/x11vnc', 'x11vnc'],
  ['/usr/bin/xterm', 'xterm'],
  ['/usr/bin/xsetroot', 'x11-xserver-utils'],
  ['/usr/bin/xdotool', 'xdotool'],
  ['/usr/bin/xprop', 'x11-utils'],
];

/** Each server in its own process group, so afterAll ends it and all its children. */
function startGroup(command: string, args: string[], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  const child = spawn(command, args, { detached: true, stdio: ['ignore', 'ignore', 'pipe'], env });
  child.stderr?.resume();
  return child;
}

function killGroup(child: ChildProcess | undefined): void {
  if (child?.pid === undefined || child.exitCode !== null) return;
  try {
    process.kill(-child.pid, 'SIGKILL');
  } catch {
    // Already gone.
  }
}

async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as { port: number };
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canConnect(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = createConnection({ host: '127.0.0.1', port }, () => {
      socket.destroy();
      resolve(true);
    });
    socket.on('error', () => resolve(false));
  });
}

/** Retries `attempt` every 100 ms until it returns true, at most `ms`. */
async function until(attempt: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await attempt())) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

describe('the browser console against Xvfb + x11vnc', () => {
  const processes: ChildProcess[] = [];
  const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-x11-'));
  const typedFile = join(dir, 'typed.txt');
  let display = '';
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    for (const [path, pkg] of BINARIES) requireBinary(path, pkg);

    // -displayfd: Xvfb picks a free display number and writes it to fd 3 once it accepts
    // clients, so parallel runs never collide on a fixed :N.
    const xvfb = spawn('Xvfb', ['-displayfd', '3', '-screen', '0', '1024x768x24', '-nolisten', 'tcp', '-noreset'], {
      detached: true,
      stdio: ['ignore', 'ignore', 'pipe', 'pipe'],
    });
    processes.push(xvfb);
    xvfb.stderr?.resume();
    display = await new Promise<string>((resolve, reject) => {
      let text = '';
      const timer = setTimeout(() => reject(new Error('Xvfb did not report its display within 10 s')), 10_000);
      (xvfb.stdio[3] as NodeJS.ReadableStream).on('data', (chunk: Buffer) => {
        text += chunk.toString();
        if (text.includes('\n')) {
          clearTimeout(timer);
          resolve(`:${text.trim()}`);
        }
      });
      xvfb.once('exit', (code) => reject(new Error(`Xvfb exited with ${code}`)));
    });
    const xenv = { ...process.env, DISPLAY: display };
    // Retry until the display answers rather than sleeping a fixed time.
    await until(() => spawnSync('xsetroot', ['-solid', ROOT_COLOUR], { env: xenv }).status === 0, 10_000, 'xsetroot');

    const vncPort = await freePort();
    processes.push(startGroup('x11vnc', ['-display', display, '-rfbport', String(vncPort), '-localhost', '-forever', '-shared', '-nopw', '-quiet']));
    await until(() => canConnect(vncPort), 15_000, 'x11vnc to listen');

    // A small xterm in the top-left corner whose typed lines land in a file.
    processes.push(startGroup('xterm', ['-geometry', '50x8+0+0', '-e', 'sh', '-c', `cat > '${typedFile}'`], xenv));
    await until(() => spawnSync('xdotool', ['search', '--sync', '--onlyvisible', '--class', 'xterm'], { env: xenv, timeout: 2000 }).status === 0, 10_000, 'the xterm window');
    // No window manager: keyboard focus follows the pointer, so park it over the xterm.
    expect(spawnSync('xdotool', ['mousemove', '--sync', '60', '40'], { env: xenv }).status).toBe(0);

    h = await startHarness({
      store: 'memory',
      instances: [{ id: INSTANCE, name: 'x11vnc', state: 'RUNNING', vnc: { kind: 'tcp', host: '127.0.0.1', port: vncPort } }],
    });
    browser = await launchChromium();
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
    for (const child of processes.reverse()) killGroup(child);
  });

  it("shows the X root window's colour and delivers typed text to an xterm", async () => {
    const context = await signedInContext(browser, h.gateway.url, 'corp_session', await h.token('sam'));
    const page = await context.newPage();
    await page.goto(`${h.gateway.url}/console/${INSTANCE}`);
    await waitForStatus(page, 'Connected.');
    await page.waitForFunction(() => (document.querySelector<HTMLCanvasElement>('#screen canvas')?.width ?? 0) === 1024, null, { timeout: 10_000 });

    // Far from the xterm, the canvas shows the root window's solid colour.
    const points: [number, number][] = [[1000, 740], [900, 400], [512, 700]];
    let sample = await sampleCanvas(page, points, [ROOT_RGB]);
    const deadline = Date.now() + 10_000;
    while (sample.points.some((p) => p.join() !== ROOT_RGB.join()) && Date.now() < deadline) {
      await page.waitForTimeout(200);
      sample = await sampleCanvas(page, points, [ROOT_RGB]);
    }
    expect(sample.height).toBe(768);
    for (const point of sample.points) expect(point).toEqual(ROOT_RGB);
    expect(sample.colourCounts[0]).toBeGreaterThan(1024 * 768 * 0.8);

    // Keys typed on the page travel browser → gateway → simulator → x11vnc → xterm → cat.
    await page.keyboard.type(TYPED, { delay: 20 });
    await page.keyboard.press('Enter');
    await eventually(() => {
      try {
        return readFileSync(typedFile, 'utf8').includes(TYPED);
      } catch {
        return false;
      }
    }, 15_000, 'the typed line in the xterm');
    expect(readFileSync(typedFile, 'utf8')).toBe(`${TYPED}\n`);
    await page.waitForTimeout(300); // let the xterm's echo reach the canvas for the picture
    await screenshot(page, 'console-x11vnc');
    await context.close();
  });

  it('delivers clipboard text sent from the page to the X display', async () => {
    const xenv = { ...process.env, DISPLAY: display };
    const context = await signedInContext(browser, h.gateway.url, 'corp_session', await h.token('sam'));
    const page = await context.newPage();
    await page.goto(`${h.gateway.url}/console/${INSTANCE}`);
    await waitForStatus(page, 'Connected.');

    // Page → remote: noVNC's ClientCutText, which x11vnc stores in the display's cut buffer.
    await page.click('#clipboard-menu summary');
    await page.fill('#clipboard-text', TO_REMOTE);
    await page.click('#clipboard-send');
    const cutBuffer = (): string => spawnSync('xprop', ['-root', 'CUT_BUFFER0'], { env: xenv, timeout: 2000, encoding: 'utf8' }).stdout ?? '';
    await until(() => cutBuffer().includes(JSON.stringify(TO_REMOTE)), 10_000, 'the text in the X cut buffer');

    await screenshot(page, 'console-x11vnc-clipboard');
    await context.close();
  });
});
