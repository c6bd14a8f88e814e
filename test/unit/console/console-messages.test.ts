// Tests of the browser console's messages (gateway/console/public/console-messages.js): close
// codes and ticket errors as sentences with a next step, and the WebSocket URL. The module is
// plain browser JavaScript without DOM use, so it runs in Node as is.

import { readFile } from 'node:fs/promises';
import { beforeAll, describe, expect, it } from 'vitest';

interface Description {
  message: string;
  next: 'retry' | 'reconnect' | 'none';
  signIn: boolean;
  retryAfterSeconds?: number;
}

interface ConsoleMessages {
  MAX_AUTO_RETRIES: number;
  wsUrlFrom(location: { protocol: string; host: string }, websocketPath: unknown): string;
  retryAfterSeconds(value: unknown): number;
  retryMessage(seconds: number): string;
  parseCloseReason(reason: unknown): { code?: string; message?: string; retryAfter?: unknown };
  describeClose(code: number, reason: string): Description;
  describeTicketError(status: number, body: unknown, retryAfterHeader: string | null): Description;
}

const PUBLIC_DIR = new URL('../../../gateway/console/public/', import.meta.url);
let m: ConsoleMessages;

beforeAll(async () => {
  // A computed specifier: the browser file has no type declarations of its own.
  const specifier = new URL('console-messages.js', PUBLIC_DIR).href;
  m = (await import(specifier)) as ConsoleMessages;
});

const reason = (code: string, message: string, retryAfter?: number): string =>
  JSON.stringify({ code, message, ...(retryAfter === undefined ? {} : { retryAfter }) });

describe('wsUrlFrom', () => {
  it('uses wss: on an https page and ws: on an http page, same host and port', () => {
    expect(m.wsUrlFrom({ protocol: 'https:', host: 'console.corp.example' }, '/ws/instances/lhins-abc')).toBe(
      'wss://console.corp.example/ws/instances/lhins-abc',
    );
    expect(m.wsUrlFrom({ protocol: 'http:', host: 'localhost:8080' }, '/ws/instances/ins-1')).toBe(
      'ws://localhost:8080/ws/instances/ins-1',
    );
  });

  it.each(['//evil.example/ws', 'wss://evil.example/ws', 'ws/instances/x', '/\\evil.example', '', undefined, 42])(
    'refuses %j, which could point the ticket at another host',
    (path) => {
      expect(() => m.wsUrlFrom({ protocol: 'https:', host: 'gw' }, path)).toThrow(TypeError);
    },
  );
});

describe('describeClose', () => {
  it.each([
    [4401, 'Your sign-in has expired or the session link was already used — reload to sign in again.'],
    [4403, 'You do not have access to this instance.'],
    [4404, 'This instance does not exist (or not in this region).'],
    [4409, 'This instance is not running. Start it in the Tencent Cloud console first, then reconnect.'],
    [1000, 'Disconnected.'],
  ])('explains close code %i exactly', (code, sentence) => {
    expect(m.describeClose(code, reason('x', 'server text')).message).toBe(sentence);
  });

  it.each([
    [4408, /idle/],
    [4410, /administrator or reached its maximum duration/],
    [4502, /^Tencent Cloud could not open the console/],
    [4503, /^The gateway cannot enforce its safeguards right now/],
    [4504, /did not answer in time/],
    [1001, /restarting/],
  ])('explains close code %i', (code, pattern) => {
    expect(m.describeClose(code, '').message).toMatch(pattern);
  });

  it('offers a reconnect when the gateway restarts', () => {
    expect(m.describeClose(1001, '').next).toBe('reconnect');
  });

  it('suggests signing in on 4401', () => {
    expect(m.describeClose(4401, reason('ticket_invalid', 'x')).signIn).toBe(true);
    expect(m.describeClose(4403, reason('access_denied', 'x')).signIn).toBe(false);
  });

  it('counts down from retryAfter on 4429 and then retries', () => {
    const d = m.describeClose(4429, reason('rate_limited', 'Too many attempts; try again shortly.', 12));
    expect(d).toMatchObject({ next: 'retry', retryAfterSeconds: 12, message: 'Too many connection attempts. Retrying in 12 s…' });
  });

  it('still retries on 4429 when the reason is not JSON', () => {
    expect(m.describeClose(4429, 'garbage')).toMatchObject({ next: 'retry', retryAfterSeconds: 5 });
  });

  it('gives a generic sentence with the code for anything else', () => {
    expect(m.describeClose(4999, reason('x', 'Something odd.')).message).toBe(
      'The console connection closed unexpectedly (code 4999). Something odd.',
    );
    expect(m.describeClose(1012, '').message).toBe('The console connection closed unexpectedly (code 1012).');
  });
});

describe('retryAfterSeconds', () => {
  it.each([
    [3, 3],
    [2.2, 3],
    ['7', 7],
    [0, 1],
    [100_000, 300],
    [-1, 5],
    ['soon', 5],
    [undefined, 5],
  ])('turns %j into %i', (input, seconds) => {
    expect(m.retryAfterSeconds(input)).toBe(seconds);
  });
});

describe('describeTicketError', () => {
  it('shows the message of a 401 and suggests signing in', () => {
    const d = m.describeTicketError(401, { error: { code: 'auth_required', message: 'Sign-in required.' } }, null);
    expect(d.signIn).toBe(true);
    expect(d.message).toMatch(/^Sign-in required\. Sign in/);
  });

  it('treats an SSO redirect (status 0) as a lost sign-in', () => {
    expect(m.describeTicketError(0, undefined, null).signIn).toBe(true);
  });

  it('counts down from the body retryAfter on 429', () => {
    const d = m.describeTicketError(429, { error: { code: 'rate_limited', message: 'x', retryAfter: 9 } }, '30');
    expect(d).toMatchObject({ next: 'retry', retryAfterSeconds: 9, message: 'Too many connection attempts. Retrying in 9 s…' });
  });

  it('falls back to the Retry-After header on 429', () => {
    expect(m.describeTicketError(429, undefined, '30').retryAfterSeconds).toBe(30);
  });

  it.each([403, 404, 409])('shows the server message of a %i', (status) => {
    const d = m.describeTicketError(status, { error: { code: 'x', message: 'The instance does not exist.' } }, null);
    expect(d).toMatchObject({ message: 'The instance does not exist.', next: 'none', signIn: false });
  });

  it('offers a reconnect after a server error without a JSON body', () => {
    expect(m.describeTicketError(502, undefined, null)).toMatchObject({
      message: 'The gateway could not issue a session ticket (HTTP 502).',
      next: 'reconnect',
    });
  });
});

describe('every close code the README documents', () => {
  it('has its own sentence, not the generic fallback', async () => {
    const readme = await readFile(new URL('../../../README.md', import.meta.url), 'utf8');
    const section = readme.split('## WebSocket close codes')[1]?.split('\n## ')[0] ?? '';
    const codes = [...section.matchAll(/^\| (\d{4}) \|/gm)].map((m) => Number(m[1]));
    // DESIGN.md's idle timeout and the catalogue's 1008/1011 are covered as well.
    expect(codes.length).toBeGreaterThanOrEqual(12);
    for (const code of [...codes, 4408, 1008, 1011]) {
      const { message } = m.describeClose(code, '');
      expect(message, `close code ${code}`).not.toMatch(/closed unexpectedly/);
    }
  });
});

describe('console.js', () => {
  let source: string;
  beforeAll(async () => {
    source = await readFile(new URL('console.js', PUBLIC_DIR), 'utf8');
  });

  it('never writes to the browser console (nothing there can leak the ticket)', () => {
    expect(source).not.toMatch(/\bconsole\.(log|info|debug|warn|error|trace)\b/);
  });

  it('asks for a ticket with POST, same-origin credentials and a JSON body', () => {
    expect(source).toContain("method: 'POST'");
    expect(source).toContain("credentials: 'same-origin'");
    expect(source).toContain("'Content-Type': 'application/json'");
    // `{}`, or `{"region":…}` when the console URL names one (`?region=`).
    expect(source).toContain('body: JSON.stringify(consoleRegion ? { region: consoleRegion } : {})');
  });

  it('presents the ticket as a subprotocol, never in a URL', () => {
    expect(source).toMatch(/new WebSocket\(wsUrlFrom\(location, websocketPath\), \['binary', TICKET_PROTOCOL_PREFIX \+ ticket\]\)/);
    expect(source).toContain("const TICKET_PROTOCOL_PREFIX = 'vnc-gateway.ticket.'");
    expect(source).not.toMatch(/[?&]ticket=/);
  });

  it('hands the open socket to noVNC with shared: true and the chosen scaling (fit by default)', () => {
    expect(source).toContain("import('./novnc/core/rfb.js')");
    expect(source).toContain('new RFB(ui.screen, attempt.socket, { shared: true })');
    expect(source).toContain('applyScale(rfb, ui.scale.value)');
    expect(source).toContain("rfb.scaleViewport = mode === 'fit'");
  });

  it('sends clipboard text with noVNC and shows what the remote side copied', () => {
    expect(source).toContain('rfb.clipboardPasteFrom(ui.clipboardText.value)');
    expect(source).toMatch(/rfb\.addEventListener\('clipboard'/);
  });

  it('writes text to the page only through textContent', () => {
    expect(source).not.toMatch(/innerHTML|outerHTML|insertAdjacentHTML|document\.write/);
  });
});
