// The browser console end to end: a real Chromium (playwright-core) loads the gateway's pages,
// noVNC talks to the simulator's built-in RFB server through the gateway, and the tests judge
// what a person would see (canvas pixels, the status line) and what the browser requested.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import type { SimInstance } from '../../simulator/index.js';
import { eventually, startHarness, type Harness } from '../helpers/gateway-harness.js';
import { launchChromium, sampleCanvas, screenshot, signedInContext, waitForStatus } from './browser.js';

const COOKIE = 'corp_session'; // the harness's AUTH_TOKEN_COOKIE
const LOGIN_URL = 'https://sso.example.test/login';
const INSTANCES: SimInstance[] = [
  { id: 'lhins-demo0001', name: 'pattern-one', state: 'RUNNING', vnc: { kind: 'builtin' } },
  { id: 'lhins-clip0001', name: 'clipboard-box', state: 'RUNNING', vnc: { kind: 'builtin' } },
  { id: 'lhins-stopped1', name: 'sleeping-box', state: 'STOPPED', vnc: { kind: 'builtin' } },
  { id: 'ins-cvm00001', name: 'cvm-box', state: 'RUNNING', vnc: { kind: 'builtin' } },
];
// The built-in server's colour bars (simulator/test-pattern.ts): exact, so any of them seen
// proves the pattern arrived pixel for pixel.
const BAR_COLOURS: [number, number, number][] = [
  [235, 235, 16], [16, 235, 235], [16, 235, 16], [235, 16, 235], [235, 16, 16], [16, 16, 235],
];

/** Everything the browser asked for, and every ticket the gateway handed it. */
interface BrowserLog {
  requests: string[];
  sockets: string[];
  tickets: string[];
}

function watch(page: Page, log: BrowserLog): Page {
  page.on('request', (request) => log.requests.push(request.url()));
  page.on('websocket', (socket) => log.sockets.push(socket.url()));
  page.on('response', (response) => {
    if (!/\/api\/v1\/instances\/[^/]+\/tickets$/.test(new URL(response.url()).pathname)) return;
    response.json().then(
      (body: { ticket?: unknown }) => {
        if (typeof body.ticket === 'string') log.tickets.push(body.ticket);
      },
      () => undefined,
    );
  });
  return page;
}

describe('the browser console against the simulator', () => {
  let h: Harness;
  let browser: Browser;
  let context: BrowserContext;
  const log: BrowserLog = { requests: [], sockets: [], tickets: [] };

  beforeAll(async () => {
    browser = await launchChromium();
    h = await startHarness({
      store: 'memory',
      instances: INSTANCES,
      env: { INSTANCE_LIST_REGIONS: 'ap-guangzhou', AUTH_LOGIN_URL: LOGIN_URL },
    });
    context = await signedInContext(browser, h.gateway.url, COOKIE, await h.token('sam'));
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('lists the instances the user may open, a stopped one without Connect, and opens one', async () => {
    const page = watch(await context.newPage(), log);
    await page.goto(`${h.gateway.url}/`);
    await waitForStatus(page, 'instances you may open');
    const rows = await page.$$eval('#instance-rows tr', (trs) =>
      trs.map((tr) => ({
        id: tr.querySelector('.id')?.textContent,
        name: tr.querySelector('.name')?.textContent,
        state: tr.querySelector('.state')?.textContent,
        connect: tr.querySelector('a.connect')?.getAttribute('href') ?? null,
        action: tr.querySelector('.action')?.textContent,
      })),
    );
    expect(rows).toEqual([
      { id: 'ins-cvm00001', name: 'cvm-box', state: 'running', connect: '/console/ins-cvm00001', action: 'Connect' },
      { id: 'lhins-clip0001', name: 'clipboard-box', state: 'running', connect: '/console/lhins-clip0001', action: 'Connect' },
      { id: 'lhins-demo0001', name: 'pattern-one', state: 'running', connect: '/console/lhins-demo0001', action: 'Connect' },
      { id: 'lhins-stopped1', name: 'sleeping-box', state: 'stopped', connect: null, action: 'Stopped: start it first' },
    ]);
    // Listed through DescribeInstances for both products, signed like the VNC call.
    expect(h.simulator.calls.filter((c) => c.action === 'DescribeInstances').map((c) => c.service).sort()).toEqual(['cvm', 'lighthouse']);
    await screenshot(page, 'instance-picker');

    await page.click('tr[data-instance-id="lhins-demo0001"] a.connect');
    await page.waitForURL(`${h.gateway.url}/console/lhins-demo0001`);
    await waitForStatus(page, 'Connected.');
    await page.close();
  });

  it('opens an instance typed into "open by id"', async () => {
    const page = watch(await context.newPage(), log);
    await page.goto(`${h.gateway.url}/`);
    await page.fill('#open-id', 'ins-cvm00001');
    await page.click('#open-by-id button[type="submit"]');
    await page.waitForURL(`${h.gateway.url}/console/ins-cvm00001`);
    await waitForStatus(page, 'Connected.');
    await page.close();
  });

  it("shows the built-in server's live pattern on the canvas, changing over time", async () => {
    const page = watch(await context.newPage(), log);
    await page.goto(`${h.gateway.url}/console/lhins-demo0001`);
    await waitForStatus(page, 'Connected.');
    // The first full frame: every colour bar present in quantity.
    await page.waitForFunction(() => (document.querySelector<HTMLCanvasElement>('#screen canvas')?.width ?? 0) > 100, null, { timeout: 10_000 });
    let first = await sampleCanvas(page, [], BAR_COLOURS);
    const deadline = Date.now() + 10_000;
    while (first.colourCounts.some((n) => n < 1000) && Date.now() < deadline) {
      await page.waitForTimeout(200);
      first = await sampleCanvas(page, [], BAR_COLOURS);
    }
    expect(first.width).toBe(800);
    expect(first.height).toBe(600);
    for (const count of first.colourCounts) expect(count).toBeGreaterThan(1000);
    // The moving block and counter: the picture changes without any input.
    let later = first;
    while (later.digest === first.digest && Date.now() < deadline + 5000) {
      await page.waitForTimeout(250);
      later = await sampleCanvas(page, [], BAR_COLOURS);
    }
    expect(later.digest).not.toBe(first.digest);
    await screenshot(page, 'console-builtin-pattern');
    await page.close();
  });

  it('carries clipboard text both ways and sends special keys to the remote side', async () => {
    const page = watch(await context.newPage(), log);
    await page.goto(`${h.gateway.url}/console/lhins-clip0001`);
    await waitForStatus(page, 'Connected.');
    await page.click('#clipboard-menu summary');
    await page.fill('#clipboard-text', 'pasted from the browser 123');
    await page.click('#clipboard-send');
    await eventually(
      () => h.simulator.inputEvents('lhins-clip0001').some((e) => e.type === 'cut-text' && e.text === 'pasted from the browser 123'),
      10_000,
      'the cut text at the RFB server',
    );
    await screenshot(page, 'console-clipboard');

    // Remote → page: text copied on the instance (ServerCutText) appears in the clipboard box.
    expect(h.simulator.copyText('lhins-clip0001', 'copied on the instance 456')).toBe(1);
    await page.waitForFunction(
      () => (document.getElementById('clipboard-text') as HTMLTextAreaElement | null)?.value === 'copied on the instance 456',
      null,
      { timeout: 10_000, polling: 100 },
    );

    await page.click('#keys-menu summary');
    await page.click('#keys-menu [data-key="ctrl-alt-f2"]');
    await eventually(
      () => h.simulator.inputEvents('lhins-clip0001').some((e) => e.type === 'key' && e.down && e.keysym === 0xffbf),
      10_000,
      'F2 at the RFB server',
    );
    const keys = h.simulator.inputEvents('lhins-clip0001').flatMap((e) => (e.type === 'key' ? [`${e.down ? '+' : '-'}${e.keysym.toString(16)}`] : []));
    // Ctrl and Alt held around F2, released in reverse order.
    expect(keys.slice(-6)).toEqual(['+ffe3', '+ffe9', '+ffbf', '-ffbf', '-ffe9', '-ffe3']);
    await page.close();
  });

  it('explains that a stopped instance must be started first', async () => {
    const page = watch(await context.newPage(), log);
    await page.goto(`${h.gateway.url}/console/lhins-stopped1`);
    await waitForStatus(page, 'This instance is not running. Start it in the Tencent Cloud console first');
    expect(await page.getAttribute('#status', 'data-state')).toBe('error');
    await screenshot(page, 'console-stopped');
    await page.close();
  });

  it('gives an anonymous visitor the sign-in page, runs no console script and opens no WebSocket', async () => {
    const anonymous = await browser.newContext();
    try {
      for (const path of ['/console/lhins-demo0001', '/']) {
        const page = await anonymous.newPage();
        const requests: string[] = [];
        let sockets = 0;
        page.on('request', (request) => requests.push(new URL(request.url()).pathname));
        page.on('websocket', () => sockets++);
        const response = await page.goto(`${h.gateway.url}${path}`);
        expect(response?.status()).toBe(401);
        expect(await page.textContent('h1')).toBe('Sign in required');
        expect(await page.getAttribute('a.button', 'href')).toBe(LOGIN_URL);
        await page.waitForTimeout(500);
        expect(sockets).toBe(0);
        expect(requests).toEqual([path, '/assets/console.css']);
        await screenshot(page, path === '/' ? 'sign-in-required' : 'sign-in-required-console');
        await page.close();
      }
    } finally {
      await anonymous.close();
    }
  });

  it('never puts a ticket in any URL the browser requested', () => {
    // Runs last: the log holds every page load above.
    expect(log.tickets.length).toBeGreaterThanOrEqual(4);
    expect(log.sockets.length).toBeGreaterThanOrEqual(4);
    const urls = [...log.requests, ...log.sockets];
    for (const url of urls) {
      for (const ticket of log.tickets) expect(url).not.toContain(ticket);
      expect(new URL(url).searchParams.has('ticket')).toBe(false);
    }
    for (const socket of log.sockets) expect(new URL(socket).search).toBe('');
  });
});

describe('the browser console under the per-instance limit', () => {
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { INSTANCE_CONNECTS_PER_MINUTE: '1' } });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('counts down from retryAfter when the instance is rate limited', async () => {
    const context = await signedInContext(browser, h.gateway.url, COOKIE, await h.token('sam'));
    const first = await context.newPage();
    await first.goto(`${h.gateway.url}/console/lhins-demo0001`);
    await waitForStatus(first, 'Connected.');

    const second = await context.newPage();
    await second.goto(`${h.gateway.url}/console/lhins-demo0001`);
    await waitForStatus(second, 'Too many connection attempts. Retrying in');
    const seconds = async (): Promise<number> => Number(/Retrying in (\d+) s/.exec((await second.textContent('#status')) ?? '')?.[1]);
    const before = await seconds();
    expect(before).toBeGreaterThan(2);
    expect(before).toBeLessThanOrEqual(60);
    await second.waitForFunction(
      (start) => Number(/Retrying in (\d+) s/.exec(document.getElementById('status')?.textContent ?? '')?.[1]) < start,
      before,
      { timeout: 5000, polling: 100 },
    );
    expect(await seconds()).toBeLessThan(before);
    await screenshot(second, 'console-rate-limited');
    await context.close();
  });
});

describe('the browser console when the user is at the concurrent-session limit', () => {
  let h: Harness;
  let browser: Browser;

  beforeAll(async () => {
    browser = await launchChromium();
    // One session per user; a lease lapses 3 s after its replica stops renewing it, so the
    // refusal's retryAfter is a few seconds.
    h = await startHarness({ store: 'memory', instances: INSTANCES, env: { USER_MAX_SESSIONS: '1', SESSION_TTL_S: '3' } });
  });
  afterAll(async () => {
    await browser?.close();
    await h?.close();
  });

  it('counts down and reconnects by itself once the countdown reaches zero and a slot is free', async () => {
    const context = await signedInContext(browser, h.gateway.url, COOKIE, await h.token('sam'));
    const first = await context.newPage();
    await first.goto(`${h.gateway.url}/console/lhins-demo0001`);
    await waitForStatus(first, 'Connected.');

    const second = await context.newPage();
    await second.goto(`${h.gateway.url}/console/ins-cvm00001`);
    await waitForStatus(second, 'Retrying in');
    // The user closes the other console; the waiting one gets in on its own, no click.
    await first.click('#disconnect');
    await waitForStatus(second, 'Connected.');
    await second.waitForFunction(() => (document.querySelector<HTMLCanvasElement>('#screen canvas')?.width ?? 0) === 800, null, { timeout: 10_000 });
    await screenshot(second, 'console-reconnected-after-countdown');
    await context.close();
  });
});

