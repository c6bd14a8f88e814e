// Tests of the console's HTTP routes: the page, its security headers, the 401 and 400 pages,
// and the static files (console and noVNC) including refused traversal attempts.

import { connect } from 'node:net';
import type { AddressInfo } from 'node:net';
import { serve } from '@hono/node-server';
import type { ServerType } from '@hono/node-server';
import { Hono } from 'hono';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConsoleRoutes } from '../../../gateway/console/console-routes.js';
import { CONTENT_SECURITY_POLICY } from '../../../gateway/console/security-headers.js';

const LOGIN_URL = 'https://sso.example.com/login?next=/console&app="gw"';

/** Mounted the way the gateway mounts it. */
function gateway(options: Parameters<typeof createConsoleRoutes>[0] = {}): Hono {
  const app = new Hono();
  app.route('/', createConsoleRoutes(options));
  return app;
}

function expectSecurityHeaders(response: Response): void {
  expect(response.headers.get('Content-Security-Policy')).toBe(CONTENT_SECURITY_POLICY);
  expect(response.headers.get('Referrer-Policy')).toBe('no-referrer');
  expect(response.headers.get('X-Content-Type-Options')).toBe('nosniff');
  expect(response.headers.get('X-Frame-Options')).toBe('DENY');
}

/** Every `<script …>` opening tag and its content. */
function scripts(html: string): { attributes: string; content: string }[] {
  return [...html.matchAll(/<script\b([^>]*)>([\s\S]*?)<\/script>/gi)].map((m) => ({
    attributes: m[1] ?? '',
    content: m[2] ?? '',
  }));
}

function expectNoInlineCode(html: string): void {
  for (const script of scripts(html)) {
    expect(script.attributes).toMatch(/\ssrc="[^"]+"/);
    expect(script.content.trim()).toBe('');
  }
  // As many `<script` as complete script elements: none hides in an odd form.
  expect(html.match(/<script/gi)?.length ?? 0).toBe(scripts(html).length);
  // Attributes are checked inside tags only: escaped text may legitimately read "onerror=".
  for (const [tag] of html.matchAll(/<[a-z][^>]*>/gi)) {
    expect(tag).not.toMatch(/\son[a-z]+\s*=/i);
    expect(tag).not.toMatch(/\sstyle\s*=/i);
    expect(tag).not.toMatch(/javascript:/i);
  }
  expect(html).not.toMatch(/<style/i);
}

describe('GET /console/:instanceId', () => {
  const app = gateway({ loginUrl: LOGIN_URL });

  it.each(['lhins-abc123', 'ins-0a1b2c3d'])('serves the console page for %s', async (id) => {
    const response = await app.request(`/console/${id}`);
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/html; charset=utf-8');
    expect(response.headers.get('Cache-Control')).toBe('no-cache');
    expectSecurityHeaders(response);
    const html = await response.text();
    expect(html).toContain(`data-instance-id="${id}"`);
    expect(scripts(html).map((s) => s.attributes)).toEqual([' type="module" src="/assets/console.js"']);
  });

  it('carries no inline script, event handler or inline style', async () => {
    const html = await (await app.request('/console/lhins-abc123')).text();
    expectNoInlineCode(html);
  });

  it('passes the login URL to the script HTML-escaped', async () => {
    const html = await (await app.request('/console/lhins-abc123')).text();
    expect(html).toContain('data-login-url="https://sso.example.com/login?next=/console&amp;app=&quot;gw&quot;"');
  });

  it.each([
    ['an unknown prefix', 'vm-abc123'],
    ['upper case', 'lhins-ABC123'],
    ['an empty suffix', 'lhins-'],
    ['a suffix longer than 32', `ins-${'a'.repeat(33)}`],
    ['markup', '%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E'],
    ['a quote', 'lhins-abc%22%20data-x%3D%22'],
  ])('refuses an id with %s with a 400 page', async (_label, id) => {
    const response = await app.request(`/console/${id}`);
    expect(response.status).toBe(400);
    expectSecurityHeaders(response);
    const html = await response.text();
    expect(html).toContain('Not a valid instance id');
    expect(html).not.toContain('console.js');
    expect(html).not.toContain('data-instance-id');
    expectNoInlineCode(html);
  });

  it('echoes a refused id escaped', async () => {
    const html = await (await app.request('/console/%3Cimg%20src%3Dx%20onerror%3Dalert(1)%3E')).text();
    expect(html).toContain('&lt;img src=x onerror=alert(1)&gt;');
    expect(html).not.toContain('<img');
  });

  it('serves the page to anyone when no isSignedIn is given', async () => {
    expect((await gateway().request('/console/lhins-abc123')).status).toBe(200);
  });
});

describe('GET / (the instance picker)', () => {
  const signedIn = (c: { req: { header(name: string): string | undefined } }): Promise<boolean> =>
    Promise.resolve(c.req.header('Cookie') === 'session=ok');

  it('serves the picker with its script only, the security headers and no caching', async () => {
    const response = await gateway({ isSignedIn: signedIn }).request('/', { headers: { Cookie: 'session=ok' } });
    expect(response.status).toBe(200);
    expect(response.headers.get('Cache-Control')).toBe('no-cache');
    expectSecurityHeaders(response);
    const html = await response.text();
    expect(scripts(html).map((s) => s.attributes)).toEqual([' type="module" src="/assets/instances.js"']);
    expect(html).toContain('id="open-by-id"');
    expectNoInlineCode(html);
  });

  it('answers 401 "Sign in required" with no script when not signed in', async () => {
    const response = await gateway({ loginUrl: LOGIN_URL, isSignedIn: signedIn }).request('/');
    expect(response.status).toBe(401);
    expectSecurityHeaders(response);
    const html = await response.text();
    expect(html).toContain('Sign in required');
    expect(scripts(html)).toEqual([]);
  });
});

describe('GET /console/:instanceId when not signed in', () => {
  const signedIn = (c: { req: { header(name: string): string | undefined } }): Promise<boolean> =>
    Promise.resolve(c.req.header('Cookie') === 'session=ok');

  it('answers 401 "Sign in required" linking to loginUrl, with no console script', async () => {
    const response = await gateway({ loginUrl: LOGIN_URL, isSignedIn: signedIn }).request('/console/lhins-abc123');
    expect(response.status).toBe(401);
    expect(response.headers.get('Cache-Control')).toBe('no-cache');
    expectSecurityHeaders(response);
    const html = await response.text();
    expect(html).toContain('Sign in required');
    expect(html).toContain('href="https://sso.example.com/login?next=/console&amp;app=&quot;gw&quot;"');
    expect(html).not.toContain('console.js');
    expect(scripts(html)).toEqual([]);
    expectNoInlineCode(html);
  });

  it('answers 401 without a link when no loginUrl is configured', async () => {
    const response = await gateway({ isSignedIn: () => false }).request('/console/lhins-abc123');
    expect(response.status).toBe(401);
    const html = await response.text();
    expect(html).toContain('Sign in required');
    expect(html).not.toContain('href="http');
    expect(scripts(html)).toEqual([]);
  });

  it('asks before validating the id, so strangers learn nothing from the path', async () => {
    const response = await gateway({ isSignedIn: () => false }).request('/console/not-an-id');
    expect(response.status).toBe(401);
  });

  it('serves the page once isSignedIn says yes', async () => {
    const response = await gateway({ isSignedIn: signedIn }).request('/console/lhins-abc123', {
      headers: { Cookie: 'session=ok' },
    });
    expect(response.status).toBe(200);
  });
});

describe('createConsoleRoutes options', () => {
  it.each(['javascript:alert(1)', 'data:text/html,x', '//evil.example/login', 'login'])(
    'refuses loginUrl %s at creation',
    (loginUrl) => {
      expect(() => createConsoleRoutes({ loginUrl })).toThrow(TypeError);
    },
  );

  it.each(['https://sso.example.com/login', 'http://localhost:4180/oauth2/start', '/oauth2/start'])(
    'accepts loginUrl %s',
    (loginUrl) => {
      expect(() => createConsoleRoutes({ loginUrl })).not.toThrow();
    },
  );
});

describe('console assets', () => {
  const app = gateway();

  it.each([
    ['/assets/console.js', 'text/javascript; charset=utf-8'],
    ['/assets/console-messages.js', 'text/javascript; charset=utf-8'],
    ['/assets/console-keys.js', 'text/javascript; charset=utf-8'],
    ['/assets/instances.js', 'text/javascript; charset=utf-8'],
    ['/assets/console.css', 'text/css; charset=utf-8'],
  ])('serves %s as %s', async (url, contentType) => {
    const response = await app.request(url);
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe(contentType);
    expect(response.headers.get('Cache-Control')).toBe('no-cache');
    expectSecurityHeaders(response);
    expect((await response.text()).length).toBeGreaterThan(100);
  });

  it.each(['/assets/console.ts', '/assets/index.html', '/assets/package.json', '/assets/console.JS'])(
    'does not serve %s',
    async (url) => {
      expect((await app.request(url)).status).toBe(404);
    },
  );
});

describe('GET /assets/novnc/*', () => {
  const app = gateway();

  it('serves core/rfb.js as JavaScript, cacheable for an hour', async () => {
    const response = await app.request('/assets/novnc/core/rfb.js');
    expect(response.status).toBe(200);
    expect(response.headers.get('Content-Type')).toBe('text/javascript; charset=utf-8');
    expect(response.headers.get('Cache-Control')).toBe('public, max-age=3600');
    expectSecurityHeaders(response);
    expect(await response.text()).toContain('export default class RFB');
  });

  it('serves every module rfb.js imports, transitively (the browser can load the graph)', async () => {
    const pending = ['core/rfb.js'];
    const seen = new Set<string>();
    while (pending.length > 0) {
      const file = pending.pop() as string;
      if (seen.has(file)) continue;
      seen.add(file);
      const response = await app.request(`/assets/novnc/${file}`);
      expect(response.status, file).toBe(200);
      expect(response.headers.get('Content-Type'), file).toBe('text/javascript; charset=utf-8');
      const source = await response.text();
      for (const match of source.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'"]*?from\s*["']([^"']+)["']/g)) {
        const specifier = match[1] as string;
        expect(specifier.startsWith('.'), `${file} imports ${specifier}`).toBe(true);
        pending.push(new URL(specifier, `http://x/${file}`).pathname.slice(1));
      }
    }
    expect(seen.size).toBeGreaterThan(20);
    expect(seen).toContain('vendor/pako/lib/zlib/inflate.js');
  });

  it.each([
    '/assets/novnc/../package.json',
    '/assets/novnc/%2e%2e/package.json',
    '/assets/novnc/%2E%2E%2Fpackage.json',
    '/assets/novnc/%2e%2e%2fpackage.json',
    '/assets/novnc/core/../../package.json',
    '/assets/novnc/core/%2e%2e/%2e%2e/package.json',
    '/assets/novnc/core%2f..%2f..%2fpackage.json',
    '/assets/novnc/core/..%2f..%2fpackage.json',
    '/assets/novnc/core/..%5c..%5cpackage.json',
    '/assets/novnc/core%5crfb.js',
    '/assets/novnc/%252e%252e/package.json',
    '/assets/novnc//etc/passwd',
    '/assets/novnc/%2fetc%2fpasswd',
    '/assets/novnc/core//rfb.js',
    '/assets/novnc/package.json',
    '/assets/novnc/README.md',
    '/assets/novnc/docs/API.md',
    '/assets/novnc/vendor/pako/README.md',
    '/assets/novnc/vendor/pako/LICENSE',
    '/assets/novnc/core',
    '/assets/novnc/core/',
    '/assets/novnc/core/missing.js',
    '/assets/novnc/',
  ])('answers 404 to %s', async (url) => {
    const response = await app.request(url);
    expect(response.status).toBe(404);
    expectSecurityHeaders(response);
    expect(await response.text()).not.toContain('"name": "@novnc/novnc"');
  });
});

describe('GET /assets/novnc/* over a real socket (no URL normalisation on the way)', () => {
  let server: ServerType;
  let port: number;

  beforeAll(async () => {
    await new Promise<void>((resolve) => {
      server = serve({ fetch: gateway().fetch, port: 0, hostname: '127.0.0.1' }, (info: AddressInfo) => {
        port = info.port;
        resolve();
      });
    });
  });
  afterAll(async () => {
    await new Promise<void>((resolve) => server.close(() => resolve()));
  });

  /** Sends `target` byte for byte, as `curl --path-as-is` would, and returns the status line. */
  function rawGet(target: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const socket = connect(port, '127.0.0.1', () => {
        socket.write(`GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n`);
      });
      let data = '';
      socket.setEncoding('latin1');
      socket.on('data', (chunk: string) => (data += chunk));
      socket.on('end', () => resolve(data));
      socket.on('error', reject);
    });
  }

  it('serves core/rfb.js', async () => {
    expect(await rawGet('/assets/novnc/core/rfb.js')).toMatch(/^HTTP\/1\.1 200 /);
  });

  it.each([
    '/assets/novnc/../package.json',
    '/assets/novnc/core/../../package.json',
    '/assets/novnc/%2e%2e/package.json',
    '/assets/novnc/core/%2e%2e%2f%2e%2e%2fpackage.json',
    '/assets/novnc//etc/passwd',
    '/assets/novnc/core/..\\..\\package.json',
  ])('does not serve %s', async (target) => {
    const answer = await rawGet(target);
    expect(answer).not.toMatch(/^HTTP\/1\.1 200 /);
    expect(answer).not.toContain('"name": "@novnc/novnc"');
    expect(answer).not.toContain('root:');
  });
});
