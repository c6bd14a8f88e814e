// Wires this replica into the fleet's session list: the FleetSessions with its heartbeat, the
// pub/sub that carries admin terminate requests (Redis only), and the admission check.

import { hostname } from 'node:os';
import { randomUUID } from 'node:crypto';
import type { AuditLog } from '../audit/audit-log.js';
import type { GatewayConfig } from '../config.js';
import type { InstanceConnectBudget } from '../limits/instance-connect-budget.js';
import type { SlidingWindowLimiter } from '../limits/limiter.js';
import { createSessionAdmission, type SessionAdmission } from '../limits/session-admission.js';
import type { Logger } from '../logger.js';
import type { SharedState } from '../state/shared-state.js';
import { createFleetSessions, type FleetSessions } from './fleet-sessions.js';
import type { SessionRegistry } from './session-registry.js';
import { createRedisTerminationBus, type TerminationBus } from './termination-bus.js';

export interface FleetRuntimeOptions {
  config: GatewayConfig;
  state: SharedState;
  registry: SessionRegistry;
  limiter: SlidingWindowLimiter;
  connectBudget: InstanceConnectBudget;
  audit: AuditLog;
  logger: Logger;
}

export interface FleetRuntime {
  sessions: FleetSessions;
  admission: SessionAdmission;
  /** Stops the heartbeat and the subscription; leases of sessions still open lapse by TTL. */
  close(): Promise<void>;
}

/** Builds the fleet wiring; the replica id is the host name (a pod name) plus a random suffix. */
export function createFleetRuntime(options: FleetRuntimeOptions): FleetRuntime {
  const { config, state, logger } = options;
  const replicaId = `${hostname()}-${randomUUID().slice(0, 8)}`;
  let bus: TerminationBus | undefined;
  const sessions = createFleetSessions({
    store: state.sessionStore,
    registry: options.registry,
    replicaId,
    userMaxSessions: config.userMaxSessions,
    ttlMs: config.sessionTtlSeconds * 1000,
    ...(state.redis ? { broadcast: (request) => (bus as TerminationBus).publish(request) } : {}),
    audit: options.audit,
    logger,
  });
  if (state.redis) {
    bus = createRedisTerminationBus({ redis: state.redis, channel: `${config.keyPrefix}session-terminate`, onRequest: (request) => sessions.onTerminateRequest(request), logger });
  }
  const admission = createSessionAdmission({ sessions, limiter: options.limiter, userSessionsPerMinute: config.userSessionsPerMinute, connectBudget: options.connectBudget });
  logger.info({ replicaId }, 'session registry ready');
  return {
    sessions,
    admission,
    async close() {
      sessions.stop();
      await bus?.close();
    },
  };
}
