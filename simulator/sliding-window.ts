// A sliding-window counter ("at most N events in any window of W ms") driven by an injectable clock.

/** Outcome of one attempt. */
export interface SlidingWindowDecision {
  allowed: boolean;
  /** Events already counted in the window ending now (before this attempt). */
  inWindow: number;
  /** When refused: ms until the oldest counted event leaves the window. */
  retryAfterMs: number;
}

/** Per-key sliding-window limiter. */
export interface SlidingWindowLimiter {
  /** Counts an event for `key` if that keeps the window within the limit; refused attempts are not counted. */
  tryAcquire(key: string): SlidingWindowDecision;
}

/** Options for {@link createSlidingWindowLimiter}. */
export interface SlidingWindowOptions {
  limit: number;
  windowMs: number;
  now: () => number;
}

/**
 * Creates a limiter that keeps each key's event timestamps. An event at time t is inside the
 * window ending at `now` when `now - t < windowMs`, so exactly `windowMs` later it no longer counts.
 */
export function createSlidingWindowLimiter(options: SlidingWindowOptions): SlidingWindowLimiter {
  const events = new Map<string, number[]>();
  return {
    tryAcquire(key) {
      const now = options.now();
      const kept = (events.get(key) ?? []).filter((t) => now - t < options.windowMs);
      const inWindow = kept.length;
      if (inWindow >= options.limit) {
        events.set(key, kept);
        const oldest = kept[0] ?? now;
        return { allowed: false, inWindow, retryAfterMs: Math.max(1, oldest + options.windowMs - now) };
      }
      kept.push(now);
      events.set(key, kept);
      return { allowed: true, inWindow, retryAfterMs: 0 };
    },
  };
}
