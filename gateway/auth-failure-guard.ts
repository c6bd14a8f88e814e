// Brute-force brake: failed authentications (invalid JWTs, unknown or spent tickets) are
// counted per client IP in the shared limiter, and past AUTH_FAILURES_PER_MINUTE the gateway
// answers 429 instead of doing the work of verifying yet another guess.

import { GatewayError } from './errors.js';
import type { SlidingWindowLimiter } from './limits/limiter.js';

const WINDOW_MS = 60_000;

/** Counts failures per client IP and refuses IPs past the threshold. */
export interface AuthFailureGuard {
  /**
   * Throws GatewayError('rate_limited') when this replica has seen `clientIp` go past the
   * threshold and its window has not freed a slot yet. Cheap: no store round trip.
   */
  check(clientIp: string): void;
  /**
   * Records one failure of `clientIp` in the shared limiter. Returns the rate_limited error to
   * answer instead of the authentication error when the IP is past the threshold fleet-wide;
   * undefined otherwise. Never rejects: when the store cannot be reached the failure goes
   * uncounted (the request is refused anyway) and `onStoreError` hears of it.
   */
  recordFailure(clientIp: string): Promise<GatewayError | undefined>;
}

export interface AuthFailureGuardOptions {
  limiter: SlidingWindowLimiter;
  /** Failures per IP per sliding minute that are still answered 401. */
  failuresPerMinute: number;
  /** Milliseconds, monotonic. Default performance.now(). */
  now?: () => number;
  /** How many blocked IPs this replica remembers at most. Default 10 000. */
  maxBlockedIps?: number;
  /** Told when the limiter's store fails while counting. */
  onStoreError?: (error: unknown) => void;
}

/**
 * Creates the guard. The count is fleet-wide (the shared limiter); the "blocked until" note
 * that lets `check` refuse before any verification is per replica, learnt the first time an
 * IP's failure is refused there. So every replica answers 429 from the first failure past the
 * threshold, and from then on refuses that IP's requests up front, valid credential or not,
 * until the window frees a slot.
 */
export function createAuthFailureGuard(options: AuthFailureGuardOptions): AuthFailureGuard {
  const { limiter, failuresPerMinute, now = () => performance.now(), maxBlockedIps = 10_000 } = options;
  if (!Number.isInteger(failuresPerMinute) || failuresPerMinute < 1) throw new RangeError('failuresPerMinute must be a positive integer');
  const blockedUntil = new Map<string, number>();

  const refusal = (retryAfterMs: number): GatewayError => {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new GatewayError('rate_limited', {
      retryAfterSeconds,
      message: `Too many failed sign-in attempts from your address; try again in ${retryAfterSeconds} s.`,
    });
  };

  return {
    check(clientIp) {
      const until = blockedUntil.get(clientIp);
      if (until === undefined) return;
      const left = until - now();
      if (left > 0) throw refusal(left);
      blockedUntil.delete(clientIp);
    },

    async recordFailure(clientIp) {
      let decision;
      try {
        decision = await limiter.attempt(`auth-failures:${clientIp}`, failuresPerMinute, WINDOW_MS);
      } catch (error) {
        options.onStoreError?.(error);
        return undefined;
      }
      if (decision.allowed) return undefined;
      // Bounded: a flood from many addresses must not grow this map without end.
      if (blockedUntil.size >= maxBlockedIps && !blockedUntil.has(clientIp)) {
        const oldest = blockedUntil.keys().next();
        if (oldest.done !== true) blockedUntil.delete(oldest.value);
      }
      blockedUntil.set(clientIp, now() + decision.retryAfterMs);
      return refusal(decision.retryAfterMs);
    },
  };
}
