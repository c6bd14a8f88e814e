// LIMITS_ON_REDIS_FAILURE=local: while Redis cannot be reached, limits and session leases fall
// back to this replica's memory instead of refusing. An explicit operator choice (each replica
// then spends Tencent's budgets on its own), logged when it starts and when Redis returns.

import { isGatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { SessionStore } from '../sessions/session-store.js';
import type { SlidingWindowLimiter } from './limiter.js';

/** Tracks whether the replica is running on its local fallback, logging each change once. */
export interface FallbackState {
  /** Runs `primary`; on state_unavailable logs (once per outage) and runs `local` instead. */
  run<T>(what: string, primary: () => Promise<T>, local: () => Promise<T>): Promise<T>;
  readonly degraded: boolean;
}

/** Creates the shared outage tracker. */
export function createFallbackState(logger: Logger): FallbackState {
  let degraded = false;
  return {
    async run(what, primary, local) {
      try {
        const result = await primary();
        if (degraded) {
          degraded = false;
          logger.warn('Redis is reachable again: fleet-wide limits resumed (LIMITS_ON_REDIS_FAILURE=local)');
        }
        return result;
      } catch (error) {
        if (!isGatewayError(error) || error.code !== 'state_unavailable') throw error;
        if (!degraded) {
          degraded = true;
          logger.warn({ what, cause: error.cause instanceof Error ? error.cause.message : undefined }, "Redis is unreachable: limits now count on THIS replica only (LIMITS_ON_REDIS_FAILURE=local); several replicas may together exceed Tencent's budgets");
        }
        return local();
      }
    },
    get degraded() {
      return degraded;
    },
  };
}

/** A limiter that asks Redis and, while Redis is down, this replica's memory. */
export function createFallbackLimiter(primary: SlidingWindowLimiter, local: SlidingWindowLimiter, state: FallbackState): SlidingWindowLimiter {
  return {
    attempt: (key, limit, windowMs) => state.run('limiter', () => primary.attempt(key, limit, windowMs), () => local.attempt(key, limit, windowMs)),
    // The id names an attempt in one of the two; forgetting it in the other is a harmless no-op.
    forget: (key, attemptId) => state.run('limiter', () => primary.forget(key, attemptId), () => local.forget(key, attemptId)),
    reserve: (key, limit, windowMs, maxWaitMs) =>
      state.run('limiter', () => primary.reserve(key, limit, windowMs, maxWaitMs), () => local.reserve(key, limit, windowMs, maxWaitMs)),
  };
}

/** A session store that uses Redis and, while Redis is down, this replica's memory. */
export function createFallbackSessionStore(primary: SessionStore, local: SessionStore, state: FallbackState): SessionStore {
  return {
    admit: (request) => state.run('sessions', () => primary.admit(request), () => local.admit(request)),
    async heartbeat(records, ttlMs) {
      // Both: the local copy keeps the local limits right while Redis is away; Redis relearns on return.
      await local.heartbeat(records, ttlMs);
      await state.run('sessions', () => primary.heartbeat(records, ttlMs), async () => undefined);
    },
    async release(record) {
      await local.release(record);
      await state.run('sessions', () => primary.release(record), async () => undefined);
    },
    list: () => state.run('sessions', () => primary.list(), () => local.list()),
    get: (sessionId) => state.run('sessions', () => primary.get(sessionId), () => local.get(sessionId)),
  };
}
