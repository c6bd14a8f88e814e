import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { createServer, type Server } from 'node:http';
import { extname, join, normalize } from 'node:path';
import { fileURLToPath } from 'node:url';
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startSimulator, type Simulator } from '../../simulator/index.js';
import { callApi, codeOf, within } from './helpers.js';

const CHROMIUM = '/usr/bin/chromium';
const novncRoot = fileURLToPath(new URL('../../node_modules/@novnc/novnc/', import.meta.url));

// The real viewer against the built-in RFB server: the check that "works with noVNC 1.7" is true.
describe.skipIf(!existsSync(CHROMIUM))('built-in RFB server with noVNC 1.7 in Chromium', () => {
  let sim: Simulator;
  let web: Server;
  let browser: Browser;
  let webUrl: string;

  beforeAll(async () => {
    sim = await startSimulator();
    web = createServer((req, res) => {
      const path = new URL(req.url ?? '/', 'http://x').pathname;
      if (path === '/') {
        res.writeHead(200, { 'Content-Type': 'text/html' });
        res.end(`<!doctype html><div id="screen"></div><script type="module">
          import RFB from '/novnc/core/rfb.js';
          window.connectTo = (url) => new Promise((resolve, reject) => {
            const rfb = new RFB(document.getElementById('screen'), url);
            window.rfb = rfb;
            rfb.addEventListener('connect', () => resolve(true));
            rfb.addEventListener('disconnect', (e) => reject(new Error('disconnected, clean=' + e.detail.clean)));
          });
          window.pixel = (x, y) => [...document.querySelector('#screen canvas').getContext('2d').getImageData(x, y, 1, 1).data];
          window.ready = true;
        </script>`);
        return;
      }
      const file = normalize(join(novncRoot, path.replace(/^\/novnc\//, '')));
      if (!path.startsWith('/novnc/') || !file.startsWith(novncRoot)) {
        res.writeHead(404).end();
        return;
      }
      readFile(file).then(
        (body) => res.writeHead(200, { 'Content-Type': extname(file) === '.js' ? 'text/javascript' : 'application/octet-stream' }).end(body),
        () => res.writeHead(404).end(),
      );
    });
    await new Promise<void>((resolve) => web.listen(0, '127.0.0.1', resolve));
    webUrl = `http://127.0.0.1:${(web.address() as { port: number }).port}/`;
    browser = await chromium.launch({
      executablePath: CHROMIUM,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000,
    });
  });
  afterAll(async () => {
    await browser?.close();
    await sim?.close();
    await new Promise<void>((resolve) => (web ? web.close(() => resolve()) : resolve()));
  });

  it('connects, draws the colour bars, keeps moving, and reports typed keys', async () => {
    const page = await browser.newPage();
    try {
      page.setDefaultTimeout(10_000);
      await page.goto(webUrl);
      await page.waitForFunction('window.ready === true');
      const res = await callApi(sim, { body: { InstanceId: 'lhins-demo0001' } });
      expect(codeOf(res)).toBe('ok');
      const url = decodeURIComponent(res.body.Response.InstanceVncUrl as string);
      await within(10_000, page.evaluate((u) => (window as unknown as { connectTo(u: string): Promise<boolean> }).connectTo(u), url), 'noVNC connect');
      const pixel = (x: number, y: number): Promise<number[]> =>
        page.evaluate(([px, py]) => (window as unknown as { pixel(x: number, y: number): number[] }).pixel(px!, py!), [x, y]);
      await page.waitForFunction('window.pixel(150, 200)[0] === 235');
      expect(await pixel(150, 200)).toEqual([235, 235, 16, 255]);
      expect(await pixel(750, 200)).toEqual([16, 16, 16, 255]);
      // The moving block crosses x=400 within ~4 s; sample its band until it changes.
      const band = async (): Promise<string> => JSON.stringify(await Promise.all([100, 300, 500, 700].map((x) => pixel(x, 470))));
      const first = await band();
      await page.waitForFunction((initial) => JSON.stringify([100, 300, 500, 700].map((x) => (window as unknown as { pixel(x: number, y: number): number[] }).pixel(x, 470))) !== initial, first);
      await page.evaluate(() => (window as unknown as { rfb: { sendKey(k: number, c: string): void } }).rfb.sendKey(0x61, 'KeyA'));
      const deadline = Date.now() + 5000;
      while (!sim.inputEvents('lhins-demo0001').some((e) => e.type === 'key' && e.keysym === 0x61) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20));
      }
      expect(sim.inputEvents('lhins-demo0001').filter((e) => e.type === 'key').map((e) => e.type === 'key' && [e.keysym, e.down])).toEqual([
        [0x61, true],
        [0x61, false],
      ]);
    } finally {
      await page.close();
    }
  });
});
