// The rate-limit primitive shared by every budget: a sliding-window counter.
// Implementations: memory-limiter.ts (one replica) and redis-limiter.ts (fleet-wide, Lua).

export interface LimitDecision {
  allowed: boolean;
  /** Attempts still allowed in the current window after this one (0 when refused). */
  remaining: number;
  /** When refused: milliseconds until an attempt would be allowed. 0 when allowed. */
  retryAfterMs: number;
}

export interface SlidingWindowLimiter {
  /**
   * Records one attempt under `key` if fewer than `limit` attempts were recorded in the
   * last `windowMs`; refused attempts are not recorded. Timed by the store's own clock (the
   * Redis server's for Redis) so replicas with skewed clocks agree. Throws
   * GatewayError('state_unavailable') when the store cannot be reached.
   */
  attempt(key: string, limit: number, windowMs: number): Promise<LimitDecision>;
}
