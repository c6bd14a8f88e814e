// Hostile bytes at the gateway's HTTP and WebSocket edges, through the real gateway: broken
// handshakes, oversized headers and bodies, frames that break RFC 6455 on a live session.
// Each is refused with the documented status or close code, the session (if any) ends with
// its audit record, and the gateway keeps answering /healthz.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness } from '../helpers/gateway-harness.js';
import { closePayload, encodeFrame, jsonBody, openRawWebSocket, rawExchange, type RawWebSocket } from '../helpers/raw-websocket.js';

const OP = { continuation: 0x0, text: 0x1, binary: 0x2, close: 0x8, ping: 0x9, reserved: 0x3 } as const;
// One echo instance per frame case, so each session's audit records stand alone.
const EDGE_INSTANCES = Array.from({ length: 16 }, (_, i) => `lhins-edge${String(i).padStart(4, '0')}`);

let h: Harness;
let port: number;
let token: string;

beforeAll(async () => {
  h = await startHarness({
    store: 'memory',
    instances: EDGE_INSTANCES.map((id) => ({ id, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } })),
    // Many deliberate auth failures come from 127.0.0.1: the per-IP brake is not under test here.
    env: { AUTH_FAILURES_PER_MINUTE: '100000' },
  });
  port = h.gateway.port;
  token = await h.token('sam');
});

afterAll(async () => {
  await h?.close();
});

async function expectHealthy(): Promise<void> {
  const res = await within(fetch(`${h.gateway.url}/healthz`), 5000, '/healthz');
  expect(res.status).toBe(200);
  expect(await res.json()).toEqual({ status: 'ok' });
}

function upgradeRequest(path: string, headers: Record<string, string | undefined>): string {
  const base: Record<string, string | undefined> = {
    Host: `127.0.0.1:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
    'Sec-WebSocket-Version': '13',
    Authorization: `Bearer ${token}`,
    ...headers,
  };
  const lines = Object.entries(base).filter((entry): entry is [string, string] => entry[1] !== undefined).map(([name, value]) => `${name}: ${value}`);
  return `GET ${path} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`;
}

describe('hostile upgrade requests', () => {
  const path = `/ws/instances/${EDGE_INSTANCES[0]}`;

  it.each([
    ['one header over 16 KiB', { 'X-Padding': 'a'.repeat(17 * 1024) }],
    ['a thousand headers adding up to 20 KiB', Object.fromEntries(Array.from({ length: 1000 }, (_, i) => [`X-H${i}`, 'b'.repeat(14)]))],
    ['a 20 KiB Authorization header', { Authorization: `Bearer ${'c'.repeat(20 * 1024)}` }],
  ])('answers %s with 431 or a closed connection', async (_name, headers) => {
    const answer = await rawExchange(port, upgradeRequest(path, headers));
    if (answer.status !== undefined) expect(answer.status).toBe(431);
    expect(answer.text).not.toMatch(/^HTTP\/1\.1 101/);
    await expectHealthy();
  });

  it.each([
    ['a short Sec-WebSocket-Key', { 'Sec-WebSocket-Key': 'c2hvcnQ=' }],
    ['a Sec-WebSocket-Key that is not base64', { 'Sec-WebSocket-Key': 'not base64 at all!!!!!==' }],
    ['a 17-byte Sec-WebSocket-Key', { 'Sec-WebSocket-Key': Buffer.alloc(17, 1).toString('base64') }],
    ['no Sec-WebSocket-Key', { 'Sec-WebSocket-Key': undefined }],
    ['Sec-WebSocket-Version 8', { 'Sec-WebSocket-Version': '8' }],
    ['Sec-WebSocket-Version 14', { 'Sec-WebSocket-Version': '14' }],
    ['a list of versions', { 'Sec-WebSocket-Version': '13, 8' }],
    ['no Sec-WebSocket-Version', { 'Sec-WebSocket-Version': undefined }],
    ['an Upgrade to another protocol', { Upgrade: 'h2c' }],
  ])('refuses %s with 400 before any work', async (_name, headers) => {
    const before = h.auditLines.length;
    const answer = await rawExchange(port, upgradeRequest(path, headers));
    expect(answer.status).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'bad_request' } });
    // Refused at the door: no ticket redeemed, no limit spent, nothing to audit.
    expect(h.auditLines.length).toBe(before);
    await expectHealthy();
  });

  it.each([
    ['no Upgrade header', { Upgrade: undefined }],
    ['no Connection: Upgrade', { Connection: undefined }],
  ])('never switches protocols on a request with %s', async (_name, headers) => {
    const answer = await rawExchange(port, upgradeRequest(path, headers));
    expect(answer.status).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
    await expectHealthy();
  });

  it.each([
    ['a garbage request line', 'BLAH /\u0001 HTTP/9.9\r\n\r\n'],
    ['a header with a control character', upgradeRequest(path, { 'X-Evil': 'a\u0001b' })],
    ['a header line without a colon', `GET ${path} HTTP/1.1\r\nHost: x\r\nnot a header\r\n\r\n`],
  ])('answers %s with 400 from the HTTP parser', async (_name, request) => {
    const answer = await rawExchange(port, request);
    expect(answer.status).toBe(400);
    await expectHealthy();
  });
});

describe('hostile frames on a live session', () => {
  let next = 0;

  /** Opens a real relayed session on a fresh echo instance, over raw bytes. */
  async function liveSession(): Promise<{ ws: RawWebSocket; instanceId: string }> {
    const instanceId = EDGE_INSTANCES[1 + next++]!;
    const res = await h.requestTicket(instanceId, token);
    expect(res.status).toBe(201);
    const ws = await openRawWebSocket(port, `/ws/instances/${instanceId}`, { 'Sec-WebSocket-Protocol': `binary, vnc-gateway.ticket.${res.body.ticket as string}` });
    // Only once the upstream is connected does the relay read the client.
    await eventually(() => h.audit().some((r) => r.type === 'session.started' && r.instanceId === instanceId), 5000, 'session.started');
    // A well-formed frame goes through first, so the refusal below is about the bad one alone.
    ws.send(encodeFrame(OP.binary, Buffer.from('ping')));
    await eventually(() => ws.frames.some((f) => f.opcode === OP.binary && f.payload.toString() === 'ping'), 5000, 'the echo');
    return { ws, instanceId };
  }

  async function expectEnded(ws: RawWebSocket, instanceId: string, code: number, reason: string): Promise<void> {
    const closed = await within(ws.closed, 5000, 'the close frame');
    expect(closed?.code).toBe(code);
    await within(new Promise((resolve) => (ws.socket.destroyed ? resolve(undefined) : ws.socket.once('close', resolve))), 10_000, 'the connection to end');
    await eventually(() => h.gateway.sessions.list().every((s) => s.instanceId !== instanceId), 10_000, 'the session to leave the registry');
    await eventually(() => h.audit().some((r) => r.type === 'session.ended' && r.instanceId === instanceId), 10_000, 'session.ended');
    const records = h.audit().filter((r) => r.instanceId === instanceId);
    expect(records.filter((r) => r.type === 'session.started')).toHaveLength(1);
    const ended = records.filter((r) => r.type === 'session.ended');
    expect(ended).toHaveLength(1);
    // The audit record names the close code the client actually received.
    expect(ended[0]).toMatchObject({ reason, closeCode: code, closedBy: 'gateway' });
    await expectHealthy();
  }

  const invalidUtf8 = Buffer.from([0x68, 0x69, 0xff, 0xfe, 0xc0, 0xaf]);

  it.each([
    ['a frame one byte over the 64 KiB cap', 1009, encodeFrame(OP.binary, Buffer.alloc(0), { announcedLength: 65_537n }), 'client_frame_too_large'],
    ['a frame announcing 2^63 - 1 bytes', 1009, encodeFrame(OP.binary, Buffer.alloc(0), { announcedLength: 2n ** 63n - 1n }), 'client_frame_too_large'],
    ['a close frame with a 1-byte payload', 1002, encodeFrame(OP.close, Buffer.from([0x03])), 'client_protocol_error'],
    ['a close frame with the reserved code 1005', 1002, encodeFrame(OP.close, closePayload(1005)), 'client_protocol_error'],
    ['a close frame with the reserved code 1006', 1002, encodeFrame(OP.close, closePayload(1006)), 'client_protocol_error'],
    ['a close frame with the reserved code 1015', 1002, encodeFrame(OP.close, closePayload(1015)), 'client_protocol_error'],
    ['a close frame with code 5000', 1002, encodeFrame(OP.close, closePayload(5000)), 'client_protocol_error'],
    ['a close frame whose reason is invalid UTF-8', 1007, encodeFrame(OP.close, closePayload(1000, invalidUtf8)), 'client_protocol_error'],
    ['a text frame of invalid UTF-8', 1007, encodeFrame(OP.text, invalidUtf8), 'client_protocol_error'],
    ['a valid text frame (the relay carries binary only)', 1003, encodeFrame(OP.text, Buffer.from('hello')), 'text_frame'],
    ['an unmasked frame', 1002, encodeFrame(OP.binary, Buffer.from('x'), { masked: false }), 'client_protocol_error'],
    ['a frame with RSV1 set and no extension agreed', 1002, encodeFrame(OP.binary, Buffer.from('x'), { rsv: 4 }), 'client_protocol_error'],
    ['a reserved opcode', 1002, encodeFrame(OP.reserved, Buffer.from('x')), 'client_protocol_error'],
    ['a fragmented ping', 1002, encodeFrame(OP.ping, Buffer.from('x'), { fin: false }), 'client_protocol_error'],
    ['a continuation with nothing to continue', 1002, encodeFrame(OP.continuation, Buffer.from('x')), 'client_protocol_error'],
  ])('closes the session on %s with %i and records its end', async (_name, code, frame, reason) => {
    const { ws, instanceId } = await liveSession();
    ws.send(frame);
    await expectEnded(ws, instanceId, code, reason);
  });
});

describe('hostile requests to the ticket API', () => {
  const path = `/api/v1/instances/${EDGE_INSTANCES[0]}/tickets`;

  function post(headers: Record<string, string>, body: string | Buffer = ''): string | Buffer {
    const head = [`POST ${path} HTTP/1.1`, `Host: 127.0.0.1:${port}`, 'Connection: close', ...Object.entries(headers).map(([n, v]) => `${n}: ${v}`)].join('\r\n');
    return Buffer.concat([Buffer.from(`${head}\r\n\r\n`, 'latin1'), Buffer.from(body)]);
  }

  const json = (body: string): Record<string, string> => ({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(body)) });

  it('issues a ticket for a small valid body (the control for the refusals below)', async () => {
    const answer = await rawExchange(port, post(json('{}'), '{}'));
    expect(answer.status).toBe(201);
  });

  it.each([
    ['a 2 KiB JSON body', () => post(json(`{"pad":"${'x'.repeat(2048)}"}`), `{"pad":"${'x'.repeat(2048)}"}`)],
    ['a 1 MiB body', () => post(json('x'.repeat(1024 * 1024)), 'x'.repeat(1024 * 1024))],
    [
      'a chunked body growing past 1 KiB',
      () => post({ Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', 'Transfer-Encoding': 'chunked' }, `${'400\r\n' + 'y'.repeat(1024) + '\r\n'}${'400\r\n' + 'y'.repeat(1024) + '\r\n'}0\r\n\r\n`),
    ],
    ['a Content-Length of a terabyte with a few bytes sent', () => post({ ...json(''), 'Content-Length': '1099511627776' }, '{"a":1}')],
  ])('refuses %s with 400 or 413', async (_name, request) => {
    const answer = await rawExchange(port, request());
    expect([400, 413]).toContain(answer.status);
    await expectHealthy();
  });

  it.each([
    ['truncated JSON', '{"a":'],
    ['a JSON array', '[]'],
    ['JSON null', 'null'],
    ['a JSON string', '"ticket please"'],
    ['deeply nested arrays', `${'['.repeat(500)}${']'.repeat(500)}`],
    ['a lone NUL', '\u0000'],
  ])('refuses a body of %s with 400 bad_request', async (_name, body) => {
    const answer = await rawExchange(port, post({ ...json(body), 'Content-Length': String(Buffer.byteLength(body, 'latin1')) }, Buffer.from(body, 'latin1')));
    expect(answer.status).toBe(400);
    expect(jsonBody(answer)).toMatchObject({ error: { code: 'bad_request' } });
  });

  it.each(['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/jsonp', 'json'])(
    'refuses a non-empty body sent as %s with 400',
    async (type) => {
      const answer = await rawExchange(port, post({ ...json('{}'), 'Content-Type': type }, '{}'));
      expect(answer.status).toBe(400);
      expect(jsonBody(answer)).toMatchObject({ error: { code: 'bad_request' } });
    },
  );

  it.each([
    ['a 12 KiB bearer token', `Bearer ${'A'.repeat(12 * 1024)}`, 'auth_invalid'],
    ['a token of three huge segments', `Bearer ${'a'.repeat(4000)}.${'b'.repeat(4000)}.${'c'.repeat(100)}`, 'auth_invalid'],
    ['Basic credentials', 'Basic dXNlcjpwYXNz', 'auth_required'],
    ['a bare Bearer', 'Bearer', 'auth_required'],
    ['Bearer followed by spaces only', 'Bearer      ', 'auth_required'],
    ['two tokens', `Bearer ${token} ${token}`, 'auth_required'],
    ['latin-1 bytes', `Bearer \u00ff\u00fe\u00e9${'\u0080'.repeat(50)}`, 'auth_invalid'],
    ['a token of dots', 'Bearer ....................', 'auth_invalid'],
    ['a JSON blob', 'Bearer {"alg":"none"}', 'auth_invalid'],
  ])('refuses an Authorization header of %s with 401', async (_name, authorization, code) => {
    const answer = await rawExchange(port, post({ Authorization: authorization }));
    expect(answer.status).toBe(401);
    expect(jsonBody(answer)).toMatchObject({ error: { code } });
    await expectHealthy();
  });

  it('answers a 20 KiB Authorization header with 431 or a closed connection', async () => {
    const answer = await rawExchange(port, post({ Authorization: `Bearer ${'d'.repeat(20 * 1024)}` }));
    if (answer.status !== undefined) expect(answer.status).toBe(431);
    await expectHealthy();
  });
});

describe('after all of the above', () => {
  it('logged no unexpected error and holds no session', () => {
    const errors = h.logLines.filter((line) => (JSON.parse(line) as { level: number }).level >= 50);
    expect(errors).toEqual([]);
    expect(h.gateway.sessions.list()).toEqual([]);
  });
});
