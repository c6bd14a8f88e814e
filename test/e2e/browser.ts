// Shared pieces of the end-to-end tests: Debian's Chromium driven by playwright-core, binaries
// that must exist (a missing one fails the test naming its Debian package, never a silent
// skip), screenshots under test-results/, and reading what noVNC drew on its canvas.

import { accessSync, constants, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';

export const CHROMIUM = '/usr/bin/chromium';
export const RESULTS_DIR = join(import.meta.dirname, '..', '..', 'test-results');

// The flags TESTING-NOTES recommends for Debian's Chromium in a container: no sandbox (no
// user namespaces), no GPU, and none of the background traffic that would pollute the
// request log the ticket test reads.
const CHROMIUM_ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/** Throws, naming the Debian package, when `path` is not an executable. */
export function requireBinary(path: string, debianPackage: string): void {
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new Error(`${path} is missing: install the Debian package "${debianPackage}" (apt-get install ${debianPackage}); .ci/run does so`);
  }
}

/**
 * Launches Chromium. playwright-core gives every launch a fresh temporary user-data-dir and
 * removes it on close, so no profile state (cookies, storage) carries between runs.
 */
export async function launchChromium(): Promise<Browser> {
  requireBinary(CHROMIUM, 'chromium');
  return chromium.launch({ executablePath: CHROMIUM, headless: true, args: CHROMIUM_ARGS, timeout: 30_000 });
}

/** A context signed in through the SSO cookie the gateway is configured with. */
export async function signedInContext(browser: Browser, gatewayUrl: string, cookieName: string, token: string): Promise<BrowserContext> {
  const context = await browser.newContext({ viewport: { width: 1100, height: 760 } });
  await context.addCookies([{ name: cookieName, value: token, url: gatewayUrl, httpOnly: true, sameSite: 'Lax' }]);
  return context;
}

/** Saves a full-page screenshot as test-results/<name>.png and returns its path. */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(RESULTS_DIR, { recursive: true });
  const path = join(RESULTS_DIR, `${name}.png`);
  await page.screenshot({ path });
  return path;
}

/** What noVNC's canvas shows: its size, a digest of every pixel, and a few sampled colours. */
export interface CanvasSample {
  width: number;
  height: number;
  digest: number;
  /** `[r, g, b]` at each requested point, in remote-screen pixels. */
  points: [number, number, number][];
  /** How many pixels have exactly each of the requested colours. */
  colourCounts: number[];
}

/**
 * Reads the pixels noVNC drew (its canvas is created by script, so only the page can read
 * it). Points are in remote-screen coordinates: the canvas holds the framebuffer 1:1 and
 * scaling is CSS only.
 */
export async function sampleCanvas(page: Page, points: [number, number][] = [], colours: [number, number, number][] = []): Promise<CanvasSample> {
  return page.evaluate(
    ({ points, colours }) => {
      const canvas = document.querySelector<HTMLCanvasElement>('#screen canvas');
      if (canvas === null) throw new Error('noVNC has not created its canvas');
      const context = canvas.getContext('2d');
      if (context === null) throw new Error('no 2d context');
      const { width, height } = canvas;
      const data = context.getImageData(0, 0, width, height).data;
      let digest = 0;
      for (let i = 0; i < data.length; i += 4) digest = (Math.imul(digest, 31) + (data[i]! << 16) + (data[i + 1]! << 8) + data[i + 2]!) | 0;
      const counts = colours.map(() => 0);
      for (let i = 0; i < data.length; i += 4) {
        for (let c = 0; c < colours.length; c++) {
          const [r, g, b] = colours[c]!;
          if (data[i] === r && data[i + 1] === g && data[i + 2] === b) counts[c]!++;
        }
      }
      const sampled = points.map(([x, y]) => {
        const at = (y * width + x) * 4;
        return [data[at]!, data[at + 1]!, data[at + 2]!] as [number, number, number];
      });
      return { width, height, digest, points: sampled, colourCounts: counts };
    },
    { points, colours },
  );
}

/** Waits until the console's status line reads `text` (a substring), at most `ms`. */
export async function waitForStatus(page: Page, text: string, ms = 15_000): Promise<void> {
  await page.waitForFunction(
    (expected) => document.getElementById('status')?.textContent?.includes(expected) === true,
    text,
    { timeout: ms, polling: 100 },
  );
}
