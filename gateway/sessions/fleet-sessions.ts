// This replica's part in the fleet-wide session list: takes each session's concurrency lease
// before accept, renews the leases of its sessions with their byte counts on a heartbeat,
// releases them when sessions end, and ends a session here when an admin on any replica asks.

import { randomUUID } from 'node:crypto';
import type { Actor } from '../audit/audit-events.js';
import type { AuditLog } from '../audit/audit-log.js';
import { closeReason, GatewayError, isGatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SessionRegistry } from './session-registry.js';
import type { SessionRecord, SessionStore } from './session-store.js';

/** An admin's request to end a session, as carried between replicas. */
export interface TerminateRequest {
  sessionId: string;
  /** The admin who asked. */
  by: Actor;
  /** The admin's DELETE request, for the audit record. */
  gatewayRequestId: string;
  /** The admin's address. */
  clientIp: string;
}

/** A session's place against the concurrency limits, held from admission until release. */
export interface SessionLease {
  readonly sessionId: string;
  /** Frees the lease; safe to call more than once. */
  release(): void;
}

/** What admission needs to know about the session. */
export interface LeaseRequest {
  sub: string;
  email?: string;
  instanceId: string;
  clientIp: string;
  /** The policy rule's `maxConcurrentSessions` (exclusive sessions); undefined = unlimited. */
  maxInstanceSessions?: number;
}

/** Options for {@link createFleetSessions}. */
export interface FleetSessionsOptions {
  store: SessionStore;
  /** This replica's live relays (upgrade.ts adds and removes them). */
  registry: SessionRegistry;
  replicaId: string;
  /** Concurrent sessions per user, fleet-wide (USER_MAX_SESSIONS). */
  userMaxSessions: number;
  /** A lease lapses this long after its last heartbeat (SESSION_TTL_S); heartbeats run every third of it. */
  ttlMs: number;
  /** Sends a terminate request to every replica (pub/sub); absent = this replica is the fleet. */
  broadcast?: (request: TerminateRequest) => Promise<void>;
  audit: AuditLog;
  logger: Logger;
  /** Wall-clock milliseconds for `startedAt`. Default Date.now. */
  now?: () => number;
}

/** The fleet's sessions as seen from this replica. */
export interface FleetSessions {
  readonly replicaId: string;
  /**
   * Takes the concurrency lease for a new session. Throws GatewayError('rate_limited') with
   * `retryAfterSeconds` and a `scope` (`user-sessions` or `instance-sessions`), or
   * GatewayError('state_unavailable') when the store cannot be reached.
   */
  lease(request: LeaseRequest): Promise<SessionLease>;
  /** Every live session on every replica. */
  list(): Promise<SessionRecord[]>;
  /**
   * Ends a session wherever it runs: closes it here, or asks its replica. Removes it from the
   * list at once, so a session of a replica that died does not wait for its lease to lapse.
   * Resolves `not_found` when no such session is listed.
   */
  terminate(request: TerminateRequest): Promise<{ outcome: 'terminated' | 'requested' | 'not_found'; record?: SessionRecord }>;
  /**
   * Handles a terminate request that reached this replica; ignores sessions that are not here.
   * A session here stops being renewed at once, and one still in setup is closed when it goes live.
   */
  onTerminateRequest(request: TerminateRequest): void;
  /** Renews every lease of this replica now (the timer does this every ttl/3). */
  heartbeat(): Promise<void>;
  /** Stops the heartbeat. */
  stop(): void;
}

/** Creates this replica's view of the fleet's sessions and starts its heartbeat. */
export function createFleetSessions(options: FleetSessionsOptions): FleetSessions {
  const { store, registry, replicaId, audit, logger } = options;
  const now = options.now ?? Date.now;
  const leases = new Map<string, SessionRecord>();
  // Sessions of this replica an admin ended, until their lease is released: never renewed (the
  // admin's replica already removed them from the list), and closed once live if they were still
  // being set up when the request came.
  const terminating = new Map<string, { request: TerminateRequest; closed: boolean }>();
  let heartbeatFailing = false;

  const current = (record: SessionRecord): SessionRecord => {
    const live = registry.get(record.sessionId);
    if (live === undefined) return record;
    return { ...record, state: 'live', bytesFromClient: live.relay.bytesFromClient, bytesFromUpstream: live.relay.bytesFromUpstream };
  };

  async function heartbeat(): Promise<void> {
    for (const ending of terminating.values()) {
      if (ending.closed) continue;
      try {
        ending.closed = closeHere(ending.request);
      } catch (error) {
        ending.closed = true;
        logger.error({ err: isGatewayError(error) ? error.code : error, sessionId: ending.request.sessionId }, 'could not terminate a session');
      }
    }
    try {
      await store.heartbeat([...leases.values()].filter((record) => !terminating.has(record.sessionId)).map(current), options.ttlMs);
      if (heartbeatFailing) logger.info({ sessions: leases.size }, 'session heartbeat recovered');
      heartbeatFailing = false;
    } catch (error) {
      // Live relays keep running while the store is away; their leases are taken again on recovery.
      if (!heartbeatFailing) logger.warn({ err: error, sessions: leases.size }, 'session heartbeat failed; live sessions continue');
      heartbeatFailing = true;
    }
  }
  const timer = setInterval(() => void heartbeat(), Math.max(100, Math.floor(options.ttlMs / 3)));
  timer.unref();

  const closeHere = (request: TerminateRequest): boolean => {
    const live = registry.get(request.sessionId);
    if (live === undefined) return false;
    audit.record({
      type: 'session.terminated',
      actor: live.email ? { sub: live.sub, email: live.email } : { sub: live.sub },
      instanceId: live.instanceId,
      sessionId: live.sessionId,
      clientIp: request.clientIp,
      gatewayRequestId: request.gatewayRequestId,
      terminatedBy: request.by,
    });
    logger.info({ sessionId: live.sessionId, by: request.by.sub }, 'session terminated by an admin');
    live.relay.close(4410, closeReason('session_terminated', 'An administrator ended this session.'), 'admin', 'admin_terminated');
    return true;
  };

  return {
    replicaId,

    async lease(request: LeaseRequest): Promise<SessionLease> {
      const record: SessionRecord = {
        sessionId: randomUUID(),
        sub: request.sub,
        ...(request.email ? { email: request.email } : {}),
        instanceId: request.instanceId,
        clientIp: request.clientIp,
        replicaId,
        startedAt: now(),
        state: 'starting',
        bytesFromClient: 0,
        bytesFromUpstream: 0,
        ...(request.maxInstanceSessions === undefined ? {} : { maxInstanceSessions: request.maxInstanceSessions }),
      };
      const result = await store.admit({ record, userLimit: options.userMaxSessions, ttlMs: options.ttlMs });
      if (!result.admitted) {
        const retryAfterSeconds = Math.max(1, Math.ceil(result.retryAfterMs / 1000));
        const message = result.scope === 'user-sessions'
          ? `You already have ${options.userMaxSessions} open console session${options.userMaxSessions === 1 ? '' : 's'}; close one, or try again in ${retryAfterSeconds} s.`
          : `This instance has an exclusive console session open; try again in ${retryAfterSeconds} s.`;
        throw Object.assign(new GatewayError('rate_limited', { retryAfterSeconds, message }), { scope: result.scope });
      }
      leases.set(record.sessionId, record);
      let released = false;
      return {
        sessionId: record.sessionId,
        release() {
          if (released) return;
          released = true;
          leases.delete(record.sessionId);
          terminating.delete(record.sessionId);
          // A release that fails is harmless: the lease lapses after the TTL without heartbeats.
          store.release(record).catch((error: unknown) => logger.warn({ err: error, sessionId: record.sessionId }, 'could not release a session lease; it lapses after the TTL'));
        },
      };
    },

    async list(): Promise<SessionRecord[]> {
      const records = await store.list();
      // This replica's own sessions show their bytes as of now, not as of the last heartbeat.
      return records.map((record) => (record.replicaId === replicaId && leases.has(record.sessionId) ? current(record) : record)).sort((a, b) => a.startedAt - b.startedAt);
    },

    async terminate(request: TerminateRequest) {
      const local = leases.get(request.sessionId);
      const record = local ? current(local) : await store.get(request.sessionId);
      if (record === undefined) return { outcome: 'not_found' as const };
      if (record.replicaId === replicaId) {
        if (!closeHere(request)) return { outcome: 'not_found' as const };
        return { outcome: 'terminated' as const, record };
      }
      // Ask first, then drop it from the list: the owner stops renewing it once asked.
      if (options.broadcast) await options.broadcast(request);
      await store.release(record);
      return { outcome: 'requested' as const, record };
    },

    onTerminateRequest(request: TerminateRequest): void {
      try {
        const closed = closeHere(request);
        if (leases.has(request.sessionId)) terminating.set(request.sessionId, { request, closed });
      } catch (error) {
        logger.error({ err: isGatewayError(error) ? error.code : error, sessionId: request.sessionId }, 'could not terminate a session');
      }
    },

    heartbeat,

    stop(): void {
      clearInterval(timer);
    },
  };
}
