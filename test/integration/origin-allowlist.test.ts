// The Origin allowlist through the real gateway, as operators configure it: ALLOWED_ORIGINS, or
// only PUBLIC_URL (whose origin it defaults to). A cookie is attached by the browser to any
// site's request, so a cookie-authenticated ticket call or upgrade must carry an allowed
// Origin (CSWSH, CSRF); a bearer client without Origin is an API client and passes, with a
// foreign Origin it is a page on another site and does not. The same-host fallback (neither
// variable set) is covered last: a warning at start, and the scheme compared once it is known.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../helpers/gateway-harness.js';
import { describeOutcome, outcomeOf } from '../helpers/ws-outcome.js';

const INSTANCE = 'lhins-echo0001';
const instances = [{ id: INSTANCE, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } }];
const ALLOWED = 'https://console.corp.example';
const FALLBACK_WARNING = 'neither PUBLIC_URL nor ALLOWED_ORIGINS is set';

async function ticketCall(h: Harness, headers: Record<string, string>): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${h.gateway.url}/api/v1/instances/${INSTANCE}/tickets`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json', ...headers },
    body: '{}',
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

/** Opens, checks a byte comes back, and closes: the session really relays. */
async function relays(s: OpenedSocket): Promise<void> {
  await within(s.opened, 5000, 'open');
  s.ws.send(Buffer.from([7]));
  await eventually(() => s.received.length > 0, 5000, 'echo');
  s.ws.close();
  await within(s.closed, 5000, 'close');
}

/** Refused before the upgrade with 403, nothing relayed, Tencent never asked. */
async function refusedUpgrade(h: Harness, headers: Record<string, string>, ticket?: string): Promise<void> {
  const callsBefore = h.simulator.calls.length;
  const s = h.open(INSTANCE, { headers, ...(ticket ? { ticket } : {}) });
  expect(describeOutcome(await outcomeOf(s))).toBe('http 403');
  expect(s.received).toHaveLength(0);
  expect(h.simulator.calls.length).toBe(callsBefore);
}

describe.each<[string, Record<string, string>]>([
  ['ALLOWED_ORIGINS=https://console.corp.example', { ALLOWED_ORIGINS: ALLOWED }],
  ['only PUBLIC_URL=https://console.corp.example', { PUBLIC_URL: `${ALLOWED}/` }],
])('with %s', (_name, env) => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', instances, env: { ...env, AUTH_FAILURES_PER_MINUTE: '100000' } });
  });
  afterAll(async () => {
    await h?.close();
  });

  const cookie = async (): Promise<string> => `corp_session=${await h.token()}`;

  it('accepts a cookie-authenticated ticket call and upgrade from the allowed Origin', async () => {
    const ticket = await ticketCall(h, { Cookie: await cookie(), Origin: ALLOWED });
    expect(ticket.status).toBe(201);
    // The console's way: the ticket as a subprotocol, with the page's cookie and Origin.
    await relays(h.open(INSTANCE, { ticket: ticket.body.ticket as string, headers: { Cookie: await cookie(), Origin: ALLOWED } }));
    // The cookie alone on the upgrade.
    await relays(h.open(INSTANCE, { headers: { Cookie: await cookie(), Origin: ALLOWED } }));
  });

  describe.each<[string, string | undefined]>([
    ['a foreign Origin', 'https://evil.example'],
    ['a lookalike Origin', 'https://console.corp.example.evil.example'],
    ['the allowed host over http', 'http://console.corp.example'],
    ['Origin null', 'null'],
    ['no Origin', undefined],
  ])('with %s', (_what, origin) => {
    const originHeader = (): Record<string, string> => (origin === undefined ? {} : { Origin: origin });

    it('refuses a cookie-authenticated ticket call (403) and audits it', async () => {
      const before = h.auditLines.length;
      const ticket = await ticketCall(h, { Cookie: await cookie(), ...originHeader() });
      expect(ticket.status).toBe(403);
      expect(ticket.body).toMatchObject({ error: { code: 'origin_forbidden' } });
      expect(ticket.body).not.toHaveProperty('ticket');
      const records = h.audit().slice(before);
      expect(records).toContainEqual(expect.objectContaining({ type: 'auth.failed', code: 'origin_forbidden', source: 'cookie' }));
      expect(records.some((r) => r.type === 'ticket.issued')).toBe(false);
    });

    it('refuses a cookie-authenticated upgrade (403), nothing relayed', async () => {
      await refusedUpgrade(h, { Cookie: await cookie(), ...originHeader() });
    });
  });

  it('accepts a bearer client without an Origin on both doors', async () => {
    const token = await h.token();
    const ticket = await ticketCall(h, { Authorization: `Bearer ${token}` });
    expect(ticket.status).toBe(201);
    await relays(h.open(INSTANCE, { ticket: ticket.body.ticket as string }));
    await relays(h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } }));
  });

  it('refuses a bearer client, and a ticket, with a foreign Origin on both doors', async () => {
    const token = await h.token();
    const foreign = { Origin: 'https://evil.example' };
    expect((await ticketCall(h, { Authorization: `Bearer ${token}`, ...foreign })).status).toBe(403);
    await refusedUpgrade(h, { Authorization: `Bearer ${token}`, ...foreign });
    const ticket = await ticketCall(h, { Authorization: `Bearer ${token}` });
    await refusedUpgrade(h, foreign, ticket.body.ticket as string);
  });

  it('does not warn about the same-host fallback', () => {
    expect(h.logLines.some((line) => line.includes(FALLBACK_WARNING))).toBe(false);
  });
});

describe('with neither PUBLIC_URL nor ALLOWED_ORIGINS (the trial fallback), behind TRUST_PROXY=1', () => {
  let h: Harness;
  let host: string;
  beforeAll(async () => {
    h = await startHarness({ store: 'memory', instances, env: { TRUST_PROXY: '1', AUTH_FAILURES_PER_MINUTE: '100000' } });
    host = new URL(h.gateway.url).host;
  });
  afterAll(async () => {
    await h?.close();
  });

  const cookie = async (): Promise<string> => `corp_session=${await h.token()}`;

  it('warns at start that the fallback is for trials', () => {
    const warnings = h.logLines.filter((line) => line.includes(FALLBACK_WARNING)).map((line) => JSON.parse(line) as { level: number });
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.level).toBe(40);
  });

  it('accepts a page on this host whose scheme matches the one the trusted proxy reports', async () => {
    const headers = { Cookie: await cookie(), Origin: `https://${host}`, 'X-Forwarded-Proto': 'https' };
    expect((await ticketCall(h, headers)).status).toBe(201);
    await relays(h.open(INSTANCE, { headers }));
  });

  it('refuses an http:// page on this host when the trusted proxy says the browser came over https', async () => {
    const headers = { Cookie: await cookie(), Origin: `http://${host}`, 'X-Forwarded-Proto': 'https' };
    expect((await ticketCall(h, headers)).status).toBe(403);
    await refusedUpgrade(h, headers);
  });

  it('compares the host alone while the scheme is unknown (no X-Forwarded-Proto)', async () => {
    expect((await ticketCall(h, { Cookie: await cookie(), Origin: `http://${host}` })).status).toBe(201);
    expect((await ticketCall(h, { Cookie: await cookie(), Origin: 'http://evil.example' })).status).toBe(403);
  });
});
