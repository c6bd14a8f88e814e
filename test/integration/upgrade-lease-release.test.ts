// Leases taken during the upgrade checks are released when the ws library refuses the handshake
// itself (it does so without calling back), so such requests cannot pin a user's or an
// instance's concurrency slots for the life of the process.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../helpers/gateway-harness.js';
import { rawExchange } from '../helpers/raw-websocket.js';

const INSTANCE = 'lhins-lease001';

let h: Harness;
let token: string;

beforeAll(async () => {
  h = await startHarness({
    store: 'memory',
    instances: [{ id: INSTANCE, state: 'RUNNING', vnc: { kind: 'echo' } }],
    // One concurrent session per user: a single leaked lease locks the user out.
    env: { USER_MAX_SESSIONS: '1' },
  });
  token = await h.token('lena');
});

afterAll(async () => {
  await h?.close();
});

function upgrade(method: string, protocols: string): string {
  return (
    `${method} /ws/instances/${INSTANCE} HTTP/1.1\r\nHost: 127.0.0.1:${h.gateway.port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
    `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: ${protocols}\r\n` +
    `Authorization: Bearer ${token}\r\n\r\n`
  );
}

describe('an upgrade that passes every check but that ws refuses', () => {
  it('refuses a method other than GET with 405 before spending any credential or lease', async () => {
    const answer = await rawExchange(h.gateway.port, upgrade('POST', 'binary'));
    expect(answer.status).toBe(405);
    expect(await h.gateway.fleet.list()).toEqual([]);
  });

  it.each([
    ['a repeated subprotocol', 'GET', 'binary, binary', 400],
  ])('with %s holds no session lease afterwards', async (_name, method, protocols, status) => {
    const before = h.auditLines.length;
    const answer = await rawExchange(h.gateway.port, upgrade(method, protocols));
    expect(answer.status).toBe(status);
    await eventually(() => h.audit().slice(before).some((r) => r.type === 'session.denied'), 5000, 'session.denied');
    expect(await h.gateway.fleet.list()).toEqual([]);
  });

  it('leaves the user free to open a session', async () => {
    const before = h.auditLines.length;
    const socket = h.open(INSTANCE, { headers: { Authorization: `Bearer ${token}` } });
    await within(socket.opened, 10_000, 'the upgrade');
    // An upgrade past a limit is accepted and then closed with 4429: wait for the real start.
    await eventually(() => h.audit().slice(before).some((r) => r.type === 'session.started' || r.type === 'session.denied'), 10_000, 'the session outcome');
    expect(h.audit().slice(before).filter((r) => r.type === 'session.denied')).toEqual([]);
    expect(h.audit().slice(before).map((r) => r.type)).toContain('session.started');
    socket.ws.close(1000);
    await within(socket.closed, 5000, 'the session to close');
  });
});
