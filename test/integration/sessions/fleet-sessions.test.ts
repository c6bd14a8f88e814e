// Two replicas' FleetSessions over one session store, with terminate requests carried between
// them as the Redis pub/sub bus carries them: a session an admin ended stays out of the list
// whatever the owner's heartbeat does next, even one ended while it was still being set up.

import { afterEach, describe, expect, it } from 'vitest';
import { createAuditLog } from '../../../gateway/audit/audit-log.js';
import { createLogger } from '../../../gateway/logger.js';
import { createFleetSessions, type FleetSessions, type TerminateRequest } from '../../../gateway/sessions/fleet-sessions.js';
import { createMemorySessionStore } from '../../../gateway/sessions/memory-session-store.js';
import { createSessionRegistry, type SessionRegistry } from '../../../gateway/sessions/session-registry.js';
import { within } from '../../helpers/gateway-harness.js';
import { startRelayPair, type RelayPair } from '../relay/relay-pair.js';

const CLIENT_IP = '192.0.2.1';

describe('an admin ending a session on another replica', () => {
  const pairs: RelayPair[] = [];
  const fleets: FleetSessions[] = [];
  afterEach(async () => {
    for (const fleet of fleets.splice(0)) fleet.stop();
    await Promise.all(pairs.splice(0).map((pair) => pair.close()));
  });

  function twoReplicas(): { owner: FleetSessions; other: FleetSessions; ownerRegistry: SessionRegistry; auditLines: string[] } {
    const store = createMemorySessionStore();
    const auditLines: string[] = [];
    const audit = createAuditLog({ sink: { write: (line: string) => void auditLines.push(line) } });
    const logger = createLogger({ level: 'silent' });
    const ownerRegistry = createSessionRegistry();
    // Every replica hears every request, its own included, as on the pub/sub channel.
    const broadcast = async (request: TerminateRequest): Promise<void> => {
      for (const fleet of replicas) fleet.onTerminateRequest(request);
    };
    const common = { store, userMaxSessions: 1, ttlMs: 60_000, broadcast, audit, logger };
    const replicas = [
      createFleetSessions({ ...common, registry: ownerRegistry, replicaId: 'replica-owner' }),
      createFleetSessions({ ...common, registry: createSessionRegistry(), replicaId: 'replica-other' }),
    ] as const;
    fleets.push(...replicas);
    return { owner: replicas[0], other: replicas[1], ownerRegistry, auditLines };
  }

  const request = (sessionId: string): TerminateRequest => ({ sessionId, by: { sub: 'root' }, gatewayRequestId: 'delete-1', clientIp: '192.0.2.9' });

  it('keeps a live session it ended out of the list when the owner heartbeats before the relay has closed', async () => {
    const { owner, other, ownerRegistry } = twoReplicas();
    const lease = await owner.lease({ sub: 'alice', instanceId: 'lhins-live0001', clientIp: CLIENT_IP });
    const pair = await startRelayPair();
    pairs.push(pair);
    ownerRegistry.add({ sessionId: lease.sessionId, sub: 'alice', instanceId: 'lhins-live0001', clientIp: CLIENT_IP, startedAt: Date.now(), relay: pair.relay });

    expect((await other.terminate(request(lease.sessionId))).outcome).toBe('requested');
    // The lease is released when the relay has ended; a heartbeat may come first.
    await owner.heartbeat();
    expect((await other.list()).map((r) => r.sessionId)).not.toContain(lease.sessionId);
    expect((await within(pair.clientClosed, 5000, 'the 4410 close')).code).toBe(4410);
  });

  it('keeps a session it ended during setup out of the list, frees its slot, and closes it 4410 once it goes live', async () => {
    const { owner, other, ownerRegistry, auditLines } = twoReplicas();
    const lease = await owner.lease({ sub: 'alice', instanceId: 'lhins-setup001', clientIp: CLIENT_IP });
    expect((await other.terminate(request(lease.sessionId))).outcome).toBe('requested');
    await owner.heartbeat();
    expect((await other.list()).map((r) => r.sessionId)).not.toContain(lease.sessionId);
    // Alice's one concurrent slot is free again.
    (await other.lease({ sub: 'alice', instanceId: 'lhins-other001', clientIp: CLIENT_IP })).release();

    // Its relay starts after all: the owner's next heartbeat ends it.
    const pair = await startRelayPair();
    pairs.push(pair);
    ownerRegistry.add({ sessionId: lease.sessionId, sub: 'alice', instanceId: 'lhins-setup001', clientIp: CLIENT_IP, startedAt: Date.now(), relay: pair.relay });
    await owner.heartbeat();
    expect((await within(pair.clientClosed, 5000, 'the 4410 close')).code).toBe(4410);
    expect((await other.list()).map((r) => r.sessionId)).not.toContain(lease.sessionId);
    const terminated = auditLines.map((line) => JSON.parse(line) as Record<string, unknown>).filter((r) => r.type === 'session.terminated');
    expect(terminated).toMatchObject([{ sessionId: lease.sessionId, terminatedBy: { sub: 'root' } }]);
    lease.release();
  });
});
