// The core path end to end, on port 0, against the simulator over TLS, with memory and with
// real Redis state: tickets, relaying byte for byte, every refusal and its close code.

import { randomBytes } from 'node:crypto';
import { createServer, type AddressInfo, type Server, type Socket } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CREDENTIALS } from '../../simulator/index.js';
import { eventually, startHarness, within, type Harness, type StoreKind } from '../helpers/gateway-harness.js';

const STORES: StoreKind[] = ['memory', 'redis'];

// The transforming console's greeting, sent before it reads anything.
const GREETING = Buffer.from('XFORM 1.0\n');
const flip = (bytes: Buffer): Buffer => Buffer.from(bytes.map((b) => b ^ 0xa5));

describe.each(STORES)('a console session with %s state', (store) => {
  let h: Harness;
  // A TCP "VNC server" behind the simulator's bridge that greets first, then answers every byte
  // transformed: what comes back differs from what was sent, so a relay that looped the
  // client's own frames back (or dropped a direction) cannot pass for one that relays.
  let transformer: Server;
  const transformerSockets = new Set<Socket>();
  beforeAll(async () => {
    transformer = createServer((socket) => {
      transformerSockets.add(socket);
      socket.on('close', () => transformerSockets.delete(socket));
      socket.on('error', () => socket.destroy());
      socket.write(GREETING);
      socket.on('data', (chunk: Buffer) => socket.write(flip(chunk)));
    });
    await new Promise<void>((resolve) => transformer.listen(0, '127.0.0.1', resolve));
    const transformerPort = (transformer.address() as AddressInfo).port;
    h = await startHarness({
      store,
      // One user opens a session per Tencent error code below: more than the default 30 a minute.
      env: { USER_SESSIONS_PER_MINUTE: '1000' },
      instances: [
        { id: 'lhins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-echo0002', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'ins-echo0001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-errors01', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'ins-errors01', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-xform001', state: 'RUNNING', vnc: { kind: 'tcp', host: '127.0.0.1', port: transformerPort } },
        { id: 'lhins-stopped1', state: 'STOPPED', vnc: { kind: 'echo' } },
        { id: 'lhins-creating', state: 'CREATING', vnc: { kind: 'echo' } },
        { id: 'ins-stopped1', state: 'STOPPED', vnc: { kind: 'echo' } },
      ],
    });
  });
  afterAll(async () => {
    await h?.close();
    for (const socket of transformerSockets) socket.destroy();
    await new Promise<void>((resolve) => (transformer ? transformer.close(() => resolve()) : resolve()));
  });

  async function ticketFor(instanceId: string, sub = 'sam'): Promise<string> {
    const res = await h.requestTicket(instanceId, await h.token(sub));
    expect(res.status).toBe(201);
    return res.body.ticket as string;
  }

  async function relayRoundTrip(instanceId: string): Promise<void> {
    const ticket = await ticketFor(instanceId);
    const s = h.open(instanceId, { ticket });
    await within(s.opened, 5000, 'open');
    expect(s.ws.protocol).toBe('binary');
    // 64 messages of varied sizes, up to 32 KiB: the echo instance sends each one back.
    const sent = Array.from({ length: 64 }, (_, i) => randomBytes(1 + ((i * 7919) % 32768)));
    for (const chunk of sent) s.ws.send(chunk);
    const total = sent.reduce((n, b) => n + b.length, 0);
    await eventually(() => s.received.reduce((n, b) => n + b.length, 0) >= total, 10_000, 'echoed bytes');
    expect(Buffer.concat(s.received).equals(Buffer.concat(sent))).toBe(true);
    s.ws.close(1000);
    const outcome = await within(s.closed, 5000, 'close');
    expect(outcome.code).toBe(1000);
    await eventually(() => h.audit().some((r) => r.type === 'session.ended' && r.instanceId === instanceId), 5000, 'session.ended');
    const records = h.audit().filter((r) => r.instanceId === instanceId);
    const started = records.filter((r) => r.type === 'session.started');
    const ended = records.filter((r) => r.type === 'session.ended');
    expect(started).toHaveLength(1);
    expect(ended).toHaveLength(1);
    const end = ended[0]!;
    if (end.type !== 'session.ended') throw new Error('unreachable');
    expect(end.sessionId).toBe(started[0]!.sessionId);
    expect(end.bytesFromClient).toBe(total);
    expect(end.bytesFromUpstream).toBe(total);
    expect(end.closedBy).toBe('client');
    expect(end.closeCode).toBe(1000);
    expect(end.actor).toEqual({ sub: 'sam', email: 'sam@example.com' });
    expect(started[0]!.tencentRequestId).toMatch(/^[0-9a-f-]{36}$/);
  }

  it('relays a Lighthouse session both ways byte for byte', async () => {
    await relayRoundTrip('lhins-echo0001');
  });

  it('relays a CVM session both ways byte for byte, with the region sent', async () => {
    await relayRoundTrip('ins-echo0001');
    const call = h.simulator.calls.findLast((c) => c.instanceId === 'ins-echo0001');
    expect(call?.service).toBe('cvm');
    expect(call?.region).toBe('ap-guangzhou');
  });

  it('relays each direction as itself through a console that transforms what it receives', async () => {
    const ticket = await ticketFor('lhins-xform001');
    const s = h.open('lhins-xform001', { ticket });
    await within(s.opened, 5000, 'open');
    // Upstream → client before the client has sent anything.
    await eventually(() => Buffer.concat(s.received).length >= GREETING.length, 5000, 'the greeting');
    expect(Buffer.concat(s.received).equals(GREETING)).toBe(true);
    const sent = Array.from({ length: 16 }, (_, i) => randomBytes(1 + ((i * 4099) % 8192)));
    for (const chunk of sent) s.ws.send(chunk);
    const total = sent.reduce((n, b) => n + b.length, 0);
    await eventually(() => Buffer.concat(s.received).length >= GREETING.length + total, 10_000, 'transformed bytes');
    const answer = Buffer.concat(s.received).subarray(GREETING.length);
    expect(answer.equals(flip(Buffer.concat(sent)))).toBe(true);
    expect(answer.equals(Buffer.concat(sent))).toBe(false);
    s.ws.close(1000);
    await within(s.closed, 5000, 'close');
    await eventually(() => h.audit().some((r) => r.type === 'session.ended' && r.instanceId === 'lhins-xform001'), 5000, 'session.ended');
    const ended = h.audit().findLast((r) => r.type === 'session.ended' && r.instanceId === 'lhins-xform001');
    expect(ended).toMatchObject({ bytesFromClient: total, bytesFromUpstream: GREETING.length + total });
  });

  it('issues single-use tickets bound to the instance, valid at most 30 s', async () => {
    const token = await h.token();
    const res = await h.requestTicket('lhins-echo0001', token);
    expect(res.status).toBe(201);
    expect(res.headers.get('cache-control')).toBe('no-store');
    expect(res.body.websocketPath).toBe('/ws/instances/lhins-echo0001');
    expect(res.body.ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    const life = Date.parse(res.body.expiresAt as string) - Date.now();
    expect(life).toBeGreaterThan(0);
    expect(life).toBeLessThanOrEqual(30_000);
  });

  it('refuses a spent ticket with 4401', async () => {
    const ticket = await ticketFor('lhins-echo0001');
    const first = h.open('lhins-echo0001', { ticket });
    await within(first.opened, 5000, 'first open');
    const second = h.open('lhins-echo0001', { ticket });
    const outcome = await within(second.closed, 5000, 'second close');
    expect(outcome.code).toBe(4401);
    expect(JSON.parse(outcome.reason)).toMatchObject({ code: 'ticket_invalid' });
    expect(second.received).toHaveLength(0);
    first.ws.close();
    await within(first.closed, 5000, 'first close');
  });

  it('refuses a ticket issued for another instance with 4401, and burns it', async () => {
    const ticket = await ticketFor('lhins-echo0001');
    const wrong = h.open('lhins-echo0002', { ticket });
    expect((await within(wrong.closed, 5000, 'close')).code).toBe(4401);
    const right = h.open('lhins-echo0001', { ticket });
    expect((await within(right.closed, 5000, 'close')).code).toBe(4401);
  });

  it('accepts the ticket as ?ticket= for API clients', async () => {
    const ticket = await ticketFor('lhins-echo0001');
    const s = h.open('lhins-echo0001', { query: `?ticket=${ticket}`, protocols: ['binary'] });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from('ping'));
    await eventually(() => s.received.length > 0, 5000, 'echo');
    s.ws.close();
    await within(s.closed, 5000, 'close');
  });

  it('opens a session with a Bearer JWT on the upgrade itself (API / CLI flow)', async () => {
    const s = h.open('lhins-echo0002', { headers: { Authorization: `Bearer ${await h.token()}` } });
    await within(s.opened, 5000, 'open');
    s.ws.send(Buffer.from([1, 2, 3]));
    await eventually(() => s.received.length > 0, 5000, 'echo');
    expect([...s.received[0]!]).toEqual([1, 2, 3]);
    s.ws.close();
    await within(s.closed, 5000, 'close');
  });

  it('answers an upgrade without any credential with HTTP 401', async () => {
    const s = h.open('lhins-echo0001');
    expect(await within(s.refused, 5000, 'refusal')).toBe(401);
  });

  it('refuses a forged ticket and an invalid JWT with 4401', async () => {
    const forged = h.open('lhins-echo0001', { ticket: 'A'.repeat(43) });
    expect((await within(forged.closed, 5000, 'close')).code).toBe(4401);
    const badJwt = h.open('lhins-echo0001', { headers: { Authorization: 'Bearer not.a.jwt' } });
    expect((await within(badJwt.closed, 5000, 'close')).code).toBe(4401);
  });

  it('refuses a ticket to a user no policy rule admits (403, no ticket)', async () => {
    const res = await h.requestTicket('lhins-echo0001', await h.idp.sign({ sub: 'mallory', groups: ['guests'] }));
    expect(res.status).toBe(403);
    expect(res.body).toMatchObject({ error: { code: 'access_denied' } });
    expect(JSON.stringify(res.body)).not.toContain('ticket"');
  });

  it('refuses a JWT-authenticated upgrade that policy does not admit with 4403', async () => {
    const token = await h.idp.sign({ sub: 'alice', email: 'alice@example.com', groups: [] });
    const s = h.open('ins-echo0001', { headers: { Authorization: `Bearer ${token}` } });
    expect((await within(s.closed, 5000, 'close')).code).toBe(4403);
  });

  it('refuses viewers rather than giving them control', async () => {
    const token = await h.idp.sign({ sub: 'victor', email: 'victor@example.com', groups: [] });
    const res = await h.requestTicket('lhins-echo0001', token);
    expect(res.status).toBe(403);
    const s = h.open('lhins-echo0001', { headers: { Authorization: `Bearer ${token}` } });
    expect((await within(s.closed, 5000, 'close')).code).toBe(4403);
  });

  it('refuses a cookie-authenticated upgrade from another origin, or with none, with HTTP 403', async () => {
    const cookie = `corp_session=${await h.token()}`;
    const foreign = h.open('lhins-echo0001', { headers: { Cookie: cookie, Origin: 'https://evil.example' } });
    expect(await within(foreign.refused, 5000, 'refusal')).toBe(403);
    const none = h.open('lhins-echo0001', { headers: { Cookie: cookie } });
    expect(await within(none.refused, 5000, 'refusal')).toBe(403);
    const own = h.open('lhins-echo0001', { headers: { Cookie: cookie, Origin: h.gateway.url } });
    await within(own.opened, 5000, 'same-origin open');
    own.ws.close();
    await within(own.closed, 5000, 'close');
  });

  it('refuses a cookie-authenticated ticket call from another origin (CSRF)', async () => {
    const res = await fetch(`${h.gateway.url}/api/v1/instances/lhins-echo0001/tickets`, {
      method: 'POST',
      headers: { Cookie: `corp_session=${await h.token()}`, Origin: 'https://evil.example', 'Content-Type': 'application/json' },
      body: '{}',
    });
    expect(res.status).toBe(403);
  });

  it('refuses malformed instance ids and bodies at the edge', async () => {
    const token = await h.token();
    expect((await h.requestTicket('lhins-..%2F..%2Fx', token)).status).toBe(400);
    expect((await h.requestTicket('i-abc', token)).status).toBe(400);
    expect((await h.requestTicket('lhins-echo0001', token, { body: '[1]' })).status).toBe(400);
    expect((await h.requestTicket('lhins-echo0001', token, { body: '{"a":"' + 'x'.repeat(5000) + '"}' })).status).toBe(400);
    const s = h.open('lhins-UPPER', { headers: { Authorization: `Bearer ${token}` } });
    expect(await within(s.refused, 5000, 'refusal')).toBe(400);
  });

  // Lighthouse's DescribeInstanceVncUrl codes (the reference page), then CVM's (its API page and
  // the official SDKs' error list), then common ones; the close code is what DESIGN.md promises.
  const TENCENT_ERRORS: ReadonlyArray<readonly [string, number]> = [
    ['ResourceNotFound.InstanceIdNotFound', 4404],
    ['ResourceNotFound.InstanceNotFound', 4404],
    ['InvalidParameterValue.InstanceIdMalformed', 4404],
    ['UnsupportedOperation.InvalidInstanceState', 4409],
    ['OperationDenied.InstanceCreating', 4409],
    ['UnsupportedOperation.LatestOperationUnfinished', 4409],
    ['UnauthorizedOperation.NoPermission', 4502],
    ['FailedOperation', 4502],
    ['FailedOperation.DescribeInstanceStatus', 4502],
    ['FailedOperation.InstanceOperationFailed', 4502],
    ['InternalError.DescribeInstanceStatus', 4502],
    ['InternalError.InvalidCommandNotFound', 4502],
    ['InternalError', 4502],
    ['RequestLimitExceeded', 4502],
    ['AuthFailure.SignatureFailure', 4502],
    ['SomethingNew.NeverSeenBefore', 4502],
  ];
  const CVM_ERRORS: ReadonlyArray<readonly [string, number]> = [
    ['InvalidInstance.NotSupported', 4502],
    ['InvalidInstanceId.Malformed', 4404],
    ['InvalidInstanceId.NotFound', 4404],
    ['InvalidInstanceState', 4409],
    ['OperationDenied.InstanceOperationInProgress', 4409],
    ['UnauthorizedOperation.MFAExpired', 4502],
    ['UnauthorizedOperation.MFANotFound', 4502],
    ['UnsupportedOperation.InstanceStateEnterRescueMode', 4409],
    ['UnsupportedOperation.InstanceStateEnterServiceLiveMigrate', 4409],
    ['UnsupportedOperation.InstanceStateExitRescueMode', 4409],
    ['UnsupportedOperation.InstanceStateExitServiceLiveMigrate', 4409],
    ['UnsupportedOperation.InstanceStatePending', 4409],
    ['UnsupportedOperation.InstanceStateRebooting', 4409],
    ['UnsupportedOperation.InstanceStateShutdown', 4409],
    ['UnsupportedOperation.InstanceStateStarting', 4409],
    ['UnsupportedOperation.InstanceStateStopped', 4409],
    ['UnsupportedOperation.InstanceStateStopping', 4409],
    ['UnsupportedOperation.InstanceStateTerminated', 4404],
    ['UnsupportedOperation.InstanceStateTerminating', 4409],
    ['UnsupportedOperation.InstanceStateExpire', 4409],
    ['UnsupportedOperation.InstanceStateIsolating', 4409],
    ['UnsupportedOperation.SpecialInstanceType', 4502],
    ['UnsupportedOperation.StoppedModeStopCharging', 4409],
    // A state Tencent adds later still reads as a state, not as a gateway failure.
    ['UnsupportedOperation.InstanceStateHibernating', 4409],
  ];

  it.each([
    ...TENCENT_ERRORS.map(([code, closeCode]) => ['lhins-errors01', code, closeCode] as const),
    ...CVM_ERRORS.map(([code, closeCode]) => ['ins-errors01', code, closeCode] as const),
  ])('ends %s in its documented close code when Tencent answers %s', async (instanceId, code, closeCode) => {
    // Transient codes are retried (tencent/retry.ts, at most 4 attempts): fail every attempt.
    const transient = code.startsWith('InternalError') || code.startsWith('RequestLimitExceeded');
    const since = h.simulator.calls.length;
    h.simulator.injectError({ code, instanceId, count: transient ? 4 : 1 });
    const ticket = await ticketFor(instanceId);
    const s = h.open(instanceId, { ticket });
    const outcome = await within(s.closed, 5000, 'close');
    expect(outcome.code).toBe(closeCode);
    const reason = JSON.parse(outcome.reason) as { code: string; message: string };
    expect(reason.message.length).toBeGreaterThan(0);
    await eventually(() => h.audit().some((r) => r.type === 'session.denied' && 'tencentCode' in r && r.tencentCode === code), 5000, 'denied record');
    const denied = h.audit().findLast((r) => r.type === 'session.denied' && 'tencentCode' in r && r.tencentCode === code);
    expect(denied).toMatchObject({ stage: 'upstream', closeCode, actor: { sub: 'sam' } });
    expect(denied?.tencentRequestId).toMatch(/^[0-9a-f-]{36}$/);
    // An answer, not a hiccup: asked once, never retried (only the transient codes are).
    expect(h.simulator.calls.slice(since).filter((c) => c.instanceId === instanceId)).toHaveLength(transient ? 4 : 1);
  });

  it.each([
    ['lhins-stopped1', 4409],
    ['lhins-creating', 4409],
    ['ins-stopped1', 4409],
    ['lhins-unknown1', 4404],
  ] as const)('closes a session on %s (real simulator state) with %i', async (instanceId, closeCode) => {
    const ticket = await ticketFor(instanceId);
    const s = h.open(instanceId, { ticket });
    expect((await within(s.closed, 5000, 'close')).code).toBe(closeCode);
  });

  it('carries the rest of the session when the upstream closes first', async () => {
    const ticket = await ticketFor('lhins-echo0002');
    const s = h.open('lhins-echo0002', { ticket });
    await within(s.opened, 5000, 'open');
    // The client is accepted before the upstream exists: wait for a relayed byte first.
    s.ws.send(Buffer.from([9]));
    await eventually(() => s.received.length > 0, 5000, 'relay established');
    h.simulator.setInstanceState('lhins-echo0002', 'STOPPED');
    const outcome = await within(s.closed, 5000, 'close');
    expect([1000, 4502]).toContain(outcome.code);
    h.simulator.setInstanceState('lhins-echo0002', 'RUNNING');
    await eventually(() => h.audit().some((r) => r.type === 'session.ended' && r.instanceId === 'lhins-echo0002' && r.closedBy === 'upstream'), 5000, 'upstream end');
  });

  it('writes no upstream URL, VNC secret, ticket, token or key to any log line or audit record', async () => {
    const token = await h.token();
    const ticket = await ticketFor('lhins-echo0001');
    const s = h.open('lhins-echo0001', { ticket });
    await within(s.opened, 5000, 'open');
    s.ws.close();
    await within(s.closed, 5000, 'close');
    await eventually(() => h.auditLines.length > 0 && h.logLines.length > 0, 2000, 'output');
    const everything = [...h.logLines, ...h.auditLines].join('\n');
    for (const secret of ['wss://', 'wss%3A', '/vnc?s=', 's%3D', 'password=', ticket, token, DEMO_CREDENTIALS.secretKey]) {
      expect(everything).not.toContain(secret);
    }
    // The secret of every VNC URL the simulator handed out during this suite, whole or cut to
    // its first 12 characters (a "redacted" prefix still narrows a 32-byte secret too far).
    const secrets = h.simulator.issuedVncSecrets;
    expect(secrets.length).toBeGreaterThan(0);
    for (const secret of secrets) {
      expect(everything).not.toContain(secret.slice(0, 12));
      expect(everything).not.toContain(encodeURIComponent(secret).slice(0, 12));
    }
    expect(everything).toContain('session started');
  });
});
