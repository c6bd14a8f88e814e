// Exactly one session.started and one session.ended per accepted session, whatever ends it:
// the client closing or vanishing, the upstream closing or failing, the policy's maximum
// duration, the gateway closing. Bytes in the end record equal what the client relayed.

import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord, SessionEnded } from '../../../gateway/audit/audit-events.js';
import { verifyFiles } from '../../../gateway/audit/audit-verify.js';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../../helpers/gateway-harness.js';

const POLICY = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - users: [tim@example.com]
    instances: ["lhins-end*"]
    role: operator
    maxSessionSeconds: 1
`;

/** A TCP echo server standing in for a VNC server, whose connections a test can reset. */
async function startTcpEcho(): Promise<{ server: Server; port: number; sockets: Set<Socket> }> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.pipe(socket);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, sockets };
}

interface Relayed {
  s: OpenedSocket;
  bytes: number;
  openedAt: number;
}

async function relaySome(h: Harness, instanceId: string, sub = 'sam'): Promise<Relayed> {
  const token = await h.token(sub, sub === 'tim' ? { groups: [] } : {});
  const res = await h.requestTicket(instanceId, token);
  expect(res.status).toBe(201);
  const openedAt = Date.now();
  const s = h.open(instanceId, { ticket: res.body.ticket as string });
  await within(s.opened, 5000, 'open');
  const chunks = Array.from({ length: 8 }, (_, i) => randomBytes(100 + i * 977));
  for (const chunk of chunks) s.ws.send(chunk);
  const bytes = chunks.reduce((n, c) => n + c.length, 0);
  await eventually(() => s.received.reduce((n, b) => n + b.length, 0) >= bytes, 5000, 'echo');
  return { s, bytes, openedAt };
}

function sessionRecords(records: readonly AuditRecord[], instanceId: string): { started: AuditRecord[]; ended: SessionEnded[] } {
  const mine = records.filter((r) => r.instanceId === instanceId);
  return {
    started: mine.filter((r) => r.type === 'session.started'),
    ended: mine.filter((r): r is SessionEnded => r.type === 'session.ended'),
  };
}

async function expectOneStartOneEnd(h: Harness, instanceId: string, relayed: Relayed, closedAt: number): Promise<SessionEnded> {
  await eventually(() => sessionRecords(h.audit(), instanceId).ended.length > 0, 8000, 'session.ended');
  // Give a duplicate end record the chance to appear before counting.
  await new Promise((resolve) => setTimeout(resolve, 100));
  const { started, ended } = sessionRecords(h.audit(), instanceId);
  expect(started).toHaveLength(1);
  expect(ended).toHaveLength(1);
  const end = ended[0]!;
  expect(end.sessionId).toBe(started[0]!.sessionId);
  expect(end.gatewayRequestId).toBe(started[0]!.gatewayRequestId);
  expect(end.bytesFromClient).toBe(relayed.bytes);
  expect(end.bytesFromUpstream).toBe(relayed.bytes);
  expect(end.durationMs).toBeGreaterThanOrEqual(0);
  expect(end.durationMs).toBeLessThanOrEqual(closedAt - relayed.openedAt + 50);
  return end;
}

describe('session end records', () => {
  let h: Harness;
  let tcp: Awaited<ReturnType<typeof startTcpEcho>>;
  beforeAll(async () => {
    tcp = await startTcpEcho();
    h = await startHarness({
      store: 'memory',
      policyYaml: POLICY,
      instances: [
        ...['lhins-end00001', 'lhins-end00002', 'lhins-end00003', 'lhins-end00005'].map((id) => ({ id, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } })),
        { id: 'lhins-end00004', state: 'RUNNING', vnc: { kind: 'tcp', host: '127.0.0.1', port: tcp.port } },
      ],
    });
  });
  afterAll(async () => {
    await h?.close();
    await new Promise((resolve) => tcp?.server.close(resolve));
  });

  it('records one start and one end when the client closes', async () => {
    const relayed = await relaySome(h, 'lhins-end00001');
    relayed.s.ws.close(1000);
    await within(relayed.s.closed, 5000, 'close');
    const end = await expectOneStartOneEnd(h, 'lhins-end00001', relayed, Date.now());
    expect(end).toMatchObject({ closedBy: 'client', closeCode: 1000, reason: 'client_closed' });
  });

  it('records one start and one end when the client vanishes without a close frame', async () => {
    const relayed = await relaySome(h, 'lhins-end00002');
    relayed.s.ws.terminate();
    const end = await expectOneStartOneEnd(h, 'lhins-end00002', relayed, Date.now() + 10_000);
    expect(end).toMatchObject({ closedBy: 'client', closeCode: 1006 });
  });

  it('records one start and one end when the upstream closes', async () => {
    const relayed = await relaySome(h, 'lhins-end00003');
    h.simulator.setInstanceState('lhins-end00003', 'STOPPED');
    await within(relayed.s.closed, 5000, 'close');
    const end = await expectOneStartOneEnd(h, 'lhins-end00003', relayed, Date.now());
    expect(end).toMatchObject({ closedBy: 'upstream', closeCode: 1000, reason: 'upstream_closed' });
  });

  it('records one start and one end when the upstream fails', async () => {
    const relayed = await relaySome(h, 'lhins-end00004');
    for (const socket of tcp.sockets) socket.resetAndDestroy();
    const outcome = await within(relayed.s.closed, 5000, 'close');
    expect(outcome.code).toBe(4502);
    const end = await expectOneStartOneEnd(h, 'lhins-end00004', relayed, Date.now());
    expect(end).toMatchObject({ closedBy: 'upstream', closeCode: 4502 });
  });

  it("records one start and one end when the policy's maximum duration is reached", async () => {
    const relayed = await relaySome(h, 'lhins-end00005', 'tim');
    const outcome = await within(relayed.s.closed, 5000, 'max duration close');
    expect(outcome.code).toBe(4410);
    const end = await expectOneStartOneEnd(h, 'lhins-end00005', relayed, Date.now());
    expect(end).toMatchObject({ closedBy: 'gateway', closeCode: 4410, reason: 'max_duration' });
    expect(end.durationMs).toBeGreaterThanOrEqual(1000);
  });
});

describe('session end records when the gateway closes', () => {
  it('records the end of a live session, written to the audit file before close() resolves', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-close-')), 'audit.log');
    const h = await startHarness({
      store: 'memory',
      env: { AUDIT_FILE: file },
      instances: [{ id: 'lhins-end00006', state: 'RUNNING', vnc: { kind: 'echo' } }],
    });
    let closed = false;
    try {
      const relayed = await relaySome(h, 'lhins-end00006');
      await h.close();
      closed = true;
      const outcome = await within(relayed.s.closed, 5000, 'close');
      expect(outcome.code).toBe(1001);
      // Read at once: close() resolved, so the records must already be on disk.
      const fromFile = readFileSync(file, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as AuditRecord);
      const { started, ended } = sessionRecords(fromFile, 'lhins-end00006');
      expect(started).toHaveLength(1);
      expect(ended).toHaveLength(1);
      expect(ended[0]).toMatchObject({ closedBy: 'gateway', closeCode: 1001, reason: 'shutdown', bytesFromClient: relayed.bytes, bytesFromUpstream: relayed.bytes });
      expect(sessionRecords(h.audit(), 'lhins-end00006').ended).toHaveLength(1);
      expect((await verifyFiles([file])).ok).toBe(true);
    } finally {
      if (!closed) await h.close();
    }
  });
});

describe('session end records for idle and admin endings', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      env: { IDLE_TIMEOUT_S: '1' },
      policyYaml: `${POLICY}\n  - groups: [auditors]\n    instances: ["*"]\n    role: admin\n`,
      instances: ['lhins-end00007', 'lhins-end00008'].map((id) => ({ id, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } })),
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('records one start and one end when the client goes idle', async () => {
    const relayed = await relaySome(h, 'lhins-end00007');
    const outcome = await within(relayed.s.closed, 8000, 'idle close');
    expect(outcome.code).toBe(4408);
    const end = await expectOneStartOneEnd(h, 'lhins-end00007', relayed, Date.now());
    expect(end).toMatchObject({ closedBy: 'gateway', closeCode: 4408 });
  });

  it('records one start, one termination and one end when an admin ends the session', async () => {
    const relayed = await relaySome(h, 'lhins-end00008');
    const admin = await h.idp.sign({ sub: 'ada', email: 'ada@example.com', groups: ['auditors'] });
    const list = await fetch(`${h.gateway.url}/api/v1/sessions`, { headers: { Authorization: `Bearer ${admin}` } });
    const { sessions } = (await list.json()) as { sessions: Array<{ sessionId: string; instanceId: string }> };
    const live = sessions.find((s) => s.instanceId === 'lhins-end00008');
    expect(live).toBeDefined();
    const res = await fetch(`${h.gateway.url}/api/v1/sessions/${live!.sessionId}`, { method: 'DELETE', headers: { Authorization: `Bearer ${admin}` } });
    expect(res.status).toBe(202);
    const outcome = await within(relayed.s.closed, 5000, 'admin close');
    expect(outcome.code).toBe(4410);
    const end = await expectOneStartOneEnd(h, 'lhins-end00008', relayed, Date.now());
    expect(end).toMatchObject({ closedBy: 'admin', closeCode: 4410, sessionId: live!.sessionId });
    const terminated = h.audit().filter((r) => r.type === 'session.terminated' && r.sessionId === live!.sessionId);
    expect(terminated).toHaveLength(1);
    expect(terminated[0]).toMatchObject({ terminatedBy: { sub: 'ada' }, actor: { sub: 'sam' } });
  });
});
