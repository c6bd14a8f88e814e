// HTTP routes of the browser console: the page for one instance, its script and stylesheet,
// and the noVNC modules it imports. The ticket API and the WebSocket live elsewhere.

import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Hono } from 'hono';
import type { Context } from 'hono';
import { renderConsolePage, renderInstancesPage, renderInvalidInstancePage, renderSignInPage } from './console-pages.js';
import { createNovncAssets } from './novnc-assets.js';
import { createSecurityHeaders } from './security-headers.js';

/** Lighthouse (`lhins-…`) and CVM (`ins-…`) instance ids. */
export const INSTANCE_ID_PATTERN = /^(lhins|ins)-[a-z0-9]{1,32}$/;

const NOVNC_PREFIX = '/assets/novnc/';
const JAVASCRIPT = 'text/javascript; charset=utf-8';
const HTML_HEADERS = { 'Content-Type': 'text/html; charset=utf-8', 'Cache-Control': 'no-cache' } as const;
// noVNC is pinned by the lockfile and changes only with a deploy; an hour keeps page loads
// light without leaving a stale library around for long after an upgrade.
const NOVNC_CACHE_CONTROL = 'public, max-age=3600';
// The console's own files carry no version in their names, so the browser revalidates them.
const CONSOLE_CACHE_CONTROL = 'no-cache';

/** The console's own browser files (in `public/`), by URL name. Nothing else there is served. */
const CONSOLE_FILES: ReadonlyMap<string, string> = new Map([
  ['console.js', JAVASCRIPT],
  ['console-messages.js', JAVASCRIPT],
  ['console-keys.js', JAVASCRIPT],
  ['instances.js', JAVASCRIPT],
  ['console.css', 'text/css; charset=utf-8'],
]);

export interface ConsoleRoutesOptions {
  /** Sign-in link shown on the 401 page and offered by the console when a ticket call is refused. */
  loginUrl?: string;
  /** Whether the request carries a valid sign-in; when absent, the page is served to anyone. */
  isSignedIn?: (c: Context) => boolean | Promise<boolean>;
}

/**
 * The browser files' directory. Under `tsc` output (`dist/gateway/console/`) there is no
 * `public/` (the build does not copy plain JavaScript), so the source tree is the fallback.
 */
function resolvePublicDir(): string {
  const candidates = [
    fileURLToPath(new URL('./public/', import.meta.url)),
    fileURLToPath(new URL('../../../gateway/console/public/', import.meta.url)),
  ];
  const found = candidates.find((dir) => existsSync(path.join(dir, 'console.js')));
  if (found === undefined) throw new Error(`console files not found (looked in ${candidates.join(', ')})`);
  return found;
}

/** Only http(s) URLs or same-origin paths may become a link: a `javascript:` URL would be script. */
function checkLoginUrl(loginUrl: string | undefined): void {
  if (loginUrl === undefined) return;
  if (loginUrl.startsWith('/') && !loginUrl.startsWith('//') && !loginUrl.startsWith('/\\')) return;
  let protocol: string;
  try {
    protocol = new URL(loginUrl).protocol;
  } catch {
    throw new TypeError(`loginUrl must be an absolute http(s) URL or a path starting with "/": ${loginUrl}`);
  }
  if (protocol !== 'https:' && protocol !== 'http:') {
    throw new TypeError(`loginUrl must use http or https, not ${protocol}`);
  }
}

/**
 * The console's routes, to mount at `/`: `GET /` (the instance picker), `GET /console/:instanceId`,
 * the console's own files under `/assets/` (see CONSOLE_FILES) and `GET /assets/novnc/*`. Every
 * response carries the security headers of {@link createSecurityHeaders}.
 */
export function createConsoleRoutes(options: ConsoleRoutesOptions = {}): Hono {
  const { loginUrl, isSignedIn } = options;
  checkLoginUrl(loginUrl);
  const publicDir = resolvePublicDir();
  const novnc = createNovncAssets();
  const app = new Hono();

  // Scoped to the console's own paths: a `*` middleware here would also run for every route
  // the gateway registers after mounting this app.
  const securityHeaders = createSecurityHeaders();
  app.use('/', securityHeaders);
  app.use('/console/*', securityHeaders);
  app.use('/assets/*', securityHeaders);

  // The instance picker. Its list comes from GET /api/v1/instances, which authenticates on
  // its own; the sign-in check here only spares an anonymous visitor a page that cannot work.
  app.get('/', async (c) => {
    if (isSignedIn !== undefined && !(await isSignedIn(c))) {
      return c.body(renderSignInPage(loginUrl), 401, HTML_HEADERS);
    }
    return c.body(renderInstancesPage(), 200, HTML_HEADERS);
  });

  app.get('/console/:instanceId', async (c) => {
    if (isSignedIn !== undefined && !(await isSignedIn(c))) {
      return c.body(renderSignInPage(loginUrl), 401, HTML_HEADERS);
    }
    const instanceId = c.req.param('instanceId');
    if (!INSTANCE_ID_PATTERN.test(instanceId)) {
      return c.body(renderInvalidInstancePage(instanceId), 400, HTML_HEADERS);
    }
    return c.body(renderConsolePage({ instanceId, loginUrl }), 200, HTML_HEADERS);
  });

  app.get('/assets/novnc/*', async (c) => {
    // The raw path, not Hono's decoded one: anything percent-encoded is refused outright
    // (noVNC's file names need no encoding), so `%2e%2e%2f` never becomes `../`.
    const { pathname } = new URL(c.req.url);
    if (!pathname.startsWith(NOVNC_PREFIX)) return c.notFound();
    const bytes = await novnc.read(pathname.slice(NOVNC_PREFIX.length));
    if (bytes === undefined) return c.notFound();
    return c.body(bytes, 200, { 'Content-Type': JAVASCRIPT, 'Cache-Control': NOVNC_CACHE_CONTROL });
  });

  app.get('/assets/:file', async (c) => {
    const file = c.req.param('file');
    const contentType = CONSOLE_FILES.get(file);
    if (contentType === undefined) return c.notFound();
    const bytes = await readFile(path.join(publicDir, file));
    return c.body(new Uint8Array(bytes), 200, { 'Content-Type': contentType, 'Cache-Control': CONSOLE_CACHE_CONTROL });
  });

  return app;
}
