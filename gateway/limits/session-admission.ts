// Everything a new session must pass before the WebSocket is accepted, in the order that wastes
// least: its concurrency lease (user and instance), the user's starts per minute, then the
// instance's Tencent connect budget. What a later check refuses gives back what the earlier ones
// took, so a refused session costs the user nothing. A refusal names its scope for the
// ratelimit.exceeded record.

import { GatewayError } from '../errors.js';
import type { FleetSessions, LeaseRequest, SessionLease } from '../sessions/fleet-sessions.js';
import type { InstanceConnectBudget } from './instance-connect-budget.js';
import type { SlidingWindowLimiter } from './limiter.js';

/** What a refusal was about, as written in the `ratelimit.exceeded` audit record. */
export type LimitScope = 'instance' | 'api' | 'user' | 'user-sessions' | 'instance-sessions' | 'auth';

/** Options for {@link createSessionAdmission}. */
export interface SessionAdmissionOptions {
  sessions: FleetSessions;
  limiter: SlidingWindowLimiter;
  /** Session starts per user per sliding minute, fleet-wide (USER_SESSIONS_PER_MINUTE). */
  userSessionsPerMinute: number;
  connectBudget: InstanceConnectBudget;
}

/** Admits a new session or refuses it with the exact wait. */
export interface SessionAdmission {
  /**
   * Resolves to the session's lease (its id is the session id) when every limit allows it.
   * Throws GatewayError('rate_limited') with `retryAfterSeconds` and a `scope` property, or
   * GatewayError('state_unavailable'); a refused session leaves nothing taken.
   */
  admit(request: LeaseRequest): Promise<SessionLease>;
}

const MINUTE_MS = 60_000;

/** Creates the admission check; throws RangeError for a non-positive rate. */
export function createSessionAdmission(options: SessionAdmissionOptions): SessionAdmission {
  const { sessions, limiter, userSessionsPerMinute, connectBudget } = options;
  if (!Number.isInteger(userSessionsPerMinute) || userSessionsPerMinute < 1) throw new RangeError('userSessionsPerMinute must be a positive integer.');
  return {
    async admit(request: LeaseRequest): Promise<SessionLease> {
      const lease = await sessions.lease(request);
      try {
        const startsKey = `user-starts:${request.sub}`;
        const decision = await limiter.attempt(startsKey, userSessionsPerMinute, MINUTE_MS);
        if (!decision.allowed) {
          const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
          throw withScope(new GatewayError('rate_limited', {
            retryAfterSeconds,
            message: `You started too many console sessions in the last minute; try again in ${retryAfterSeconds} s.`,
          }), 'user');
        }
        try {
          await connectBudget.take(request.instanceId);
        } catch (error) {
          // The session never started: its start goes back. Should that fail too (Redis went
          // away), the start lapses with its minute; the refusal is what the caller must hear.
          if (decision.attemptId !== undefined) await limiter.forget(startsKey, decision.attemptId).catch(() => undefined);
          throw withScope(error, 'instance');
        }
        return lease;
      } catch (error) {
        lease.release();
        throw error;
      }
    },
  };
}

/** Attaches the scope a refusal is about (kept when one is already there). */
export function withScope<E>(error: E, scope: LimitScope): E {
  if (typeof error === 'object' && error !== null && limitScopeOf(error) === undefined) Object.assign(error, { scope });
  return error;
}

/** The scope attached to a refusal, if any. */
export function limitScopeOf(error: unknown): LimitScope | undefined {
  const scope = typeof error === 'object' && error !== null ? (error as { scope?: unknown }).scope : undefined;
  return typeof scope === 'string' ? (scope as LimitScope) : undefined;
}
