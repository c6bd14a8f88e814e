// The rate-limit primitive shared by every budget: a sliding-window counter, plus first-come
// first-served reservations in the same kind of window for budgets that let callers wait.
// Implementations: memory-limiter.ts (one replica) and redis-limiter.ts (fleet-wide, Lua).

export interface LimitDecision {
  allowed: boolean;
  /** Attempts still allowed in the current window after this one (0 when refused). */
  remaining: number;
  /** When refused: milliseconds until an attempt would be allowed. 0 when allowed. */
  retryAfterMs: number;
  /** When allowed: names the recorded attempt, so {@link SlidingWindowLimiter.forget} can give it back. */
  attemptId?: string;
}

/** The answer to {@link SlidingWindowLimiter.reserve}. */
export type Reservation =
  /** A slot is held at now + `waitMs` (ms, rounded up); the caller waits that long, once. */
  | { granted: true; waitMs: number }
  /** The caller's turn would come in `retryAfterMs` (rounded up, ≥ 1), beyond its wait: nothing recorded. */
  | { granted: false; retryAfterMs: number };

export interface SlidingWindowLimiter {
  /**
   * Records one attempt under `key` if fewer than `limit` attempts were recorded in the
   * last `windowMs`; refused attempts are not recorded. Timed by the store's own clock (the
   * Redis server's for Redis) so replicas with skewed clocks agree. Throws
   * GatewayError('state_unavailable') when the store cannot be reached.
   */
  attempt(key: string, limit: number, windowMs: number): Promise<LimitDecision>;
  /**
   * Removes an attempt {@link attempt} recorded, freeing its slot: for a check that passed
   * when a later check refused what it was for. Unknown ids are ignored. Throws
   * GatewayError('state_unavailable') when the store cannot be reached.
   */
  forget(key: string, attemptId: string): Promise<void>;
  /**
   * Reserves the caller's turn in a first-come, first-served queue under `key`: the turn is
   * now, or when the `limit`-th most recent reservation leaves the window, whichever is later.
   * So turns are handed out in arrival order and no `windowMs` span ever holds more than
   * `limit` of them. A turn more than `maxWaitMs` away is refused (and not recorded) with the
   * exact wait. Same clock and failure behaviour as {@link attempt}; keys must not be shared
   * with {@link attempt}.
   */
  reserve(key: string, limit: number, windowMs: number, maxWaitMs: number): Promise<Reservation>;
}
