// Chooses and builds the shared state from the configuration: Redis (standalone, Sentinel or
// Cluster) for a fleet, or this process's memory for a single replica; and, with
// LIMITS_ON_REDIS_FAILURE=local, the memory fallback used while Redis is down.

import { createMemoryTicketStore } from '../../auth/memory-ticket-store.js';
import type { TicketStore } from '../../auth/ticket-store.js';
import type { GatewayConfig } from '../config.js';
import type { SlidingWindowLimiter } from '../limits/limiter.js';
import { createFallbackLimiter, createFallbackSessionStore, createFallbackState } from '../limits/local-fallback.js';
import { createMemoryLimiter } from '../limits/memory-limiter.js';
import { createRedisLimiter } from '../limits/redis-limiter.js';
import type { Logger } from '../logger.js';
import { createMemorySessionStore } from '../sessions/memory-session-store.js';
import { createRedisSessionStore } from '../sessions/redis-session-store.js';
import type { SessionStore } from '../sessions/session-store.js';
import { redisHealth, type RedisConnection } from './redis-client.js';
import { createRedisTicketStore } from './redis-ticket-store.js';
import { createRedisConnection } from './redis-topology.js';

/** The stores every module shares, and the readiness checks they add. */
export interface SharedState {
  /** Undefined in memory mode. */
  redis: RedisConnection | undefined;
  limiter: SlidingWindowLimiter;
  ticketStore: TicketStore;
  sessionStore: SessionStore;
  readiness: { name: string; check: () => boolean }[];
}

/** Builds the shared state; logs loudly in memory mode and when the local fallback is chosen. */
export function createSharedState(config: GatewayConfig, logger: Logger): SharedState {
  const target = config.redisUrl ? { url: config.redisUrl } : config.redisTopology;
  if (target === undefined) {
    logger.warn("REDIS_URL is not set: tickets, limits and the session list live in this process only. Run ONE replica like this; several replicas would each spend Tencent's budgets.");
    return { redis: undefined, limiter: createMemoryLimiter(), ticketStore: createMemoryTicketStore(), sessionStore: createMemorySessionStore(), readiness: [] };
  }
  const redis = createRedisConnection(target, {
    name: 'vnc-gateway',
    logger: (event, detail) => logger.info({ ...detail, event }, 'redis connection state'),
  });
  let limiter: SlidingWindowLimiter = createRedisLimiter({ redis, keyPrefix: `${config.keyPrefix}limit:` });
  let sessionStore: SessionStore = createRedisSessionStore({ redis, keyPrefix: config.keyPrefix });
  const ticketStore = createRedisTicketStore({ redis, keyPrefix: `${config.keyPrefix}ticket:` });
  if (config.limitsOnRedisFailure === 'local') {
    logger.warn("LIMITS_ON_REDIS_FAILURE=local: while Redis is unreachable each replica enforces limits on its own, so the fleet together may exceed Tencent's budgets; readiness ignores Redis.");
    const state = createFallbackState(logger);
    limiter = createFallbackLimiter(limiter, createMemoryLimiter(), state);
    sessionStore = createFallbackSessionStore(sessionStore, createMemorySessionStore(), state);
    return { redis, limiter, ticketStore, sessionStore, readiness: [] };
  }
  // By default what cannot be enforced is refused, and the replica reports not ready.
  return { redis, limiter, ticketStore, sessionStore, readiness: [{ name: 'redis', check: () => redisHealth(redis) === 'ready' }] };
}
