// Exactly one session.started and one session.ended per accepted session, whatever ends it:
// the client closing, vanishing or no longer answering pings, the upstream closing or failing,
// the policy's maximum duration, idleness, an admin, the gateway closing. The upstream answers
// every chunk with twice its bytes, so the end record's two byte counts differ and each must
// equal what crossed in its direction; its duration must cover the relayed traffic and fit
// within the time the test watched.

import { randomBytes } from 'node:crypto';
import { createServer, type Server, type Socket } from 'node:net';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord, SessionEnded } from '../../../gateway/audit/audit-events.js';
import { verifyFiles } from '../../../gateway/audit/audit-verify.js';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../../helpers/gateway-harness.js';
import { encodeFrame, openRawWebSocket } from '../../helpers/raw-websocket.js';

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

interface Peer {
  server: Server;
  port: number;
  sockets: Set<Socket>;
}

/**
 * A TCP stand-in for a VNC server that answers every chunk with twice its bytes, so the
 * upstream sends exactly double what the client sent; a test can reset its connections.
 */
async function startDoublingPeer(): Promise<Peer> {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.on('close', () => sockets.delete(socket));
    socket.on('data', (chunk: Buffer) => void socket.write(Buffer.concat([chunk, chunk])));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const address = server.address();
  return { server, port: typeof address === 'object' && address ? address.port : 0, sockets };
}

interface Peers {
  peers: Map<string, Peer>;
  /** Simulator instances, each bridged to its own peer. */
  instances: { id: string; state: 'RUNNING'; vnc: { kind: 'tcp'; host: string; port: number } }[];
  close(): Promise<void>;
}

/** One doubling peer per instance id. */
async function startPeers(ids: readonly string[]): Promise<Peers> {
  const peers = new Map<string, Peer>();
  for (const id of ids) peers.set(id, await startDoublingPeer());
  return {
    peers,
    instances: ids.map((id) => ({ id, state: 'RUNNING' as const, vnc: { kind: 'tcp' as const, host: '127.0.0.1', port: peers.get(id)!.port } })),
    async close() {
      for (const peer of peers.values()) {
        for (const socket of peer.sockets) socket.destroy();
        await new Promise((resolve) => peer.server.close(resolve));
      }
    },
  };
}

/** Payload sizes the client sends, spaced out so the session lasts a measurable while. */
const CHUNKS = Array.from({ length: 8 }, (_, i) => 100 + i * 977);
const SPACING_MS = 40;
const pause = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** What a test saw of one session: the bytes each way and when traffic happened. */
interface Observed {
  bytesFromClient: number;
  bytesFromUpstream: number;
  /** Before the upgrade request was sent. */
  openedAt: number;
  /** When the last bytes from the upstream reached the client. */
  lastFrameAt: number;
}

interface Relayed extends Observed {
  s: OpenedSocket;
}

async function relaySome(h: Harness, instanceId: string, sub = 'sam'): Promise<Relayed> {
  const token = await h.token(sub, sub === 'tim' ? { groups: [] } : {});
  const res = await h.requestTicket(instanceId, token);
  expect(res.status).toBe(201);
  const openedAt = Date.now();
  const s = h.open(instanceId, { ticket: res.body.ticket as string });
  let lastFrameAt = 0;
  s.ws.on('message', () => void (lastFrameAt = Date.now()));
  await within(s.opened, 5000, 'open');
  let bytesFromClient = 0;
  for (const size of CHUNKS) {
    s.ws.send(randomBytes(size));
    bytesFromClient += size;
    await pause(SPACING_MS);
  }
  const bytesFromUpstream = 2 * bytesFromClient;
  await eventually(() => s.received.reduce((n, b) => n + b.length, 0) >= bytesFromUpstream, 5000, 'the doubled answers');
  expect(s.received.reduce((n, b) => n + b.length, 0)).toBe(bytesFromUpstream);
  return { s, bytesFromClient, bytesFromUpstream, openedAt, lastFrameAt };
}

function sessionRecords(records: readonly AuditRecord[], instanceId: string): { started: AuditRecord[]; ended: SessionEnded[] } {
  const mine = records.filter((r) => r.instanceId === instanceId);
  return {
    started: mine.filter((r) => r.type === 'session.started'),
    ended: mine.filter((r): r is SessionEnded => r.type === 'session.ended'),
  };
}

async function expectOneStartOneEnd(h: Harness, instanceId: string, observed: Observed): Promise<SessionEnded> {
  await eventually(() => sessionRecords(h.audit(), instanceId).ended.length > 0, 8000, 'session.ended');
  // The end record exists now, so the relay ended before this moment.
  const endSeenAt = Date.now();
  // Give a duplicate end record the chance to appear before counting.
  await pause(100);
  const { started, ended } = sessionRecords(h.audit(), instanceId);
  expect(started).toHaveLength(1);
  expect(ended).toHaveLength(1);
  const end = ended[0]!;
  expect(end.sessionId).toBe(started[0]!.sessionId);
  expect(end.gatewayRequestId).toBe(started[0]!.gatewayRequestId);
  // Uneven on purpose: swapped directions would not match.
  expect(end.bytesFromClient).toBe(observed.bytesFromClient);
  expect(end.bytesFromUpstream).toBe(observed.bytesFromUpstream);
  // The relay ran from before session.started was written until after the last frame arrived,
  // and within the time the test watched (all on this process's clock).
  expect(observed.lastFrameAt).toBeGreaterThan(0);
  expect(end.durationMs).toBeGreaterThanOrEqual(observed.lastFrameAt - Date.parse(started[0]!.ts));
  expect(end.durationMs).toBeLessThanOrEqual(endSeenAt - observed.openedAt);
  return end;
}

describe('session end records', () => {
  let h: Harness;
  let upstreams: Peers;
  beforeAll(async () => {
    upstreams = await startPeers(['lhins-end00001', 'lhins-end00002', 'lhins-end00003', 'lhins-end00004', 'lhins-end00005', 'lhins-end00009']);
    h = await startHarness({
      store: 'memory',
      policyYaml: POLICY,
      // Pings every 2 s: a client that has not answered the previous one is dead.
      env: { KEEPALIVE_INTERVAL_S: '2' },
      instances: upstreams.instances,
    });
  });
  afterAll(async () => {
    await h?.close();
    await upstreams?.close();
  });

  it('records one start and one end when the client closes', async () => {
    const relayed = await relaySome(h, 'lhins-end00001');
    relayed.s.ws.close(1000);
    await within(relayed.s.closed, 5000, 'close');
    const end = await expectOneStartOneEnd(h, 'lhins-end00001', relayed);
    expect(end).toMatchObject({ closedBy: 'client', closeCode: 1000, reason: 'client_closed' });
  });

  it('records one start and one end when the client vanishes without a close frame', async () => {
    const relayed = await relaySome(h, 'lhins-end00002');
    relayed.s.ws.terminate();
    const end = await expectOneStartOneEnd(h, 'lhins-end00002', relayed);
    expect(end).toMatchObject({ closedBy: 'client', closeCode: 1006 });
  });

  it('records one start and one end when the client stops reading and answering pings', async () => {
    const token = await h.token();
    const openedAt = Date.now();
    const raw = await openRawWebSocket(Number(new URL(h.gateway.url).port), '/ws/instances/lhins-end00009', { Authorization: `Bearer ${token}`, 'Sec-WebSocket-Protocol': 'binary' });
    try {
      let lastFrameAt = 0;
      raw.socket.on('data', () => void (lastFrameAt = Date.now()));
      let bytesFromClient = 0;
      for (const size of CHUNKS) {
        raw.send(encodeFrame(0x2, randomBytes(size)));
        bytesFromClient += size;
        await pause(SPACING_MS);
      }
      const received = (): number => raw.frames.filter((f) => f.opcode === 0x2).reduce((n, f) => n + f.payload.length, 0);
      await eventually(() => received() >= 2 * bytesFromClient, 5000, 'the doubled answers');
      // From now on the client reads nothing, so it answers no ping (it never did): a frozen tab.
      raw.socket.pause();
      expect(received()).toBe(2 * bytesFromClient);
      const end = await expectOneStartOneEnd(h, 'lhins-end00009', { bytesFromClient, bytesFromUpstream: 2 * bytesFromClient, openedAt, lastFrameAt });
      expect(end).toMatchObject({ closedBy: 'gateway', closeCode: 1006, reason: 'client_keepalive_timeout' });
    } finally {
      raw.socket.destroy();
    }
  });

  it('records one start and one end when the upstream closes', async () => {
    const relayed = await relaySome(h, 'lhins-end00003');
    h.simulator.setInstanceState('lhins-end00003', 'STOPPED');
    await within(relayed.s.closed, 5000, 'close');
    const end = await expectOneStartOneEnd(h, 'lhins-end00003', relayed);
    expect(end).toMatchObject({ closedBy: 'upstream', closeCode: 1000, reason: 'upstream_closed' });
  });

  it('records one start and one end when the upstream fails', async () => {
    const relayed = await relaySome(h, 'lhins-end00004');
    for (const socket of upstreams.peers.get('lhins-end00004')!.sockets) socket.resetAndDestroy();
    const outcome = await within(relayed.s.closed, 5000, 'close');
    expect(outcome.code).toBe(4502);
    const end = await expectOneStartOneEnd(h, 'lhins-end00004', relayed);
    expect(end).toMatchObject({ closedBy: 'upstream', closeCode: 4502 });
  });

  it("records one start and one end when the policy's maximum duration is reached", async () => {
    const relayed = await relaySome(h, 'lhins-end00005', 'tim');
    const outcome = await within(relayed.s.closed, 5000, 'max duration close');
    expect(outcome.code).toBe(4410);
    const end = await expectOneStartOneEnd(h, 'lhins-end00005', relayed);
    expect(end).toMatchObject({ closedBy: 'gateway', closeCode: 4410, reason: 'max_duration' });
    expect(end.durationMs).toBeGreaterThanOrEqual(1000);
  });
});

describe('session end records when the gateway closes', () => {
  it('records the end of a live session, written to the audit file before close() resolves', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-close-')), 'audit.log');
    const upstreams = await startPeers(['lhins-end00006']);
    const h = await startHarness({
      store: 'memory',
      env: { AUDIT_FILE: file },
      instances: upstreams.instances,
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
      expect(ended[0]).toMatchObject({ closedBy: 'gateway', closeCode: 1001, reason: 'shutdown', bytesFromClient: relayed.bytesFromClient, bytesFromUpstream: relayed.bytesFromUpstream });
      expect(sessionRecords(h.audit(), 'lhins-end00006').ended).toHaveLength(1);
      expect((await verifyFiles([file])).ok).toBe(true);
    } finally {
      if (!closed) await h.close();
      await upstreams.close();
    }
  });
});

describe('session end records for idle and admin endings', () => {
  let h: Harness;
  let upstreams: Peers;
  beforeAll(async () => {
    upstreams = await startPeers(['lhins-end00007', 'lhins-end00008']);
    h = await startHarness({
      store: 'memory',
      env: { IDLE_TIMEOUT_S: '1' },
      policyYaml: `${POLICY}\n  - groups: [auditors]\n    instances: ["*"]\n    role: admin\n`,
      instances: upstreams.instances,
    });
  });
  afterAll(async () => {
    await h?.close();
    await upstreams?.close();
  });

  it('records one start and one end when the client goes idle', async () => {
    const relayed = await relaySome(h, 'lhins-end00007');
    const outcome = await within(relayed.s.closed, 8000, 'idle close');
    expect(outcome.code).toBe(4408);
    const end = await expectOneStartOneEnd(h, 'lhins-end00007', relayed);
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
    const end = await expectOneStartOneEnd(h, 'lhins-end00008', relayed);
    expect(end).toMatchObject({ closedBy: 'admin', closeCode: 4410, sessionId: live!.sessionId });
    const terminated = h.audit().filter((r) => r.type === 'session.terminated' && r.sessionId === live!.sessionId);
    expect(terminated).toHaveLength(1);
    expect(terminated[0]).toMatchObject({ terminatedBy: { sub: 'ada' }, actor: { sub: 'sam' } });
  });
});
