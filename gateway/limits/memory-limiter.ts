// The in-process sliding-window limiter for a single replica (no REDIS_URL): the same
// answers as redis-limiter.ts, with memory bounded by sweeping keys whose window has passed.

import { checkLimitArguments } from './check-limit-arguments.js';
import type { LimitDecision, SlidingWindowLimiter } from './limiter.js';

/** Options for {@link createMemoryLimiter}. */
export interface MemoryLimiterOptions {
  /**
   * Milliseconds on a clock that never goes backwards. Default `performance.now()`, which,
   * unlike `Date.now()`, does not jump when the system clock is corrected.
   */
  now?: () => number;
  /** How often, at most, every key is checked for expiry. Default 10 000 ms. */
  sweepIntervalMs?: number;
}

/** A {@link SlidingWindowLimiter} in this process, plus the number of keys held (for tests and metrics). */
export interface MemoryLimiter extends SlidingWindowLimiter {
  keyCount(): number;
}

interface Window {
  /** Times of the recorded attempts, oldest first; never more than the largest limit used. */
  stamps: number[];
  /** The window of the latest attempt, which decides when the key may be forgotten. */
  windowMs: number;
}

/**
 * Creates an in-process limiter. An attempt exactly `windowMs` old has left the window, and
 * `retryAfterMs` is when the attempt that frees a slot leaves it, rounded up, at least 1 —
 * as in the Redis script. Keys idle for longer than their window are dropped, on the key's
 * next attempt or by a sweep that runs during attempts (no timers to leak).
 */
export function createMemoryLimiter(options: MemoryLimiterOptions = {}): MemoryLimiter {
  const now = options.now ?? (() => performance.now());
  const sweepIntervalMs = options.sweepIntervalMs ?? 10_000;
  const windows = new Map<string, Window>();
  let lastSweep = now();

  function trim(window: Window, at: number): void {
    let expired = 0;
    while (expired < window.stamps.length && (window.stamps[expired] as number) <= at - window.windowMs) expired++;
    if (expired > 0) window.stamps.splice(0, expired);
  }

  function sweep(at: number): void {
    lastSweep = at;
    for (const [key, window] of windows) {
      trim(window, at);
      if (window.stamps.length === 0) windows.delete(key);
    }
  }

  return {
    async attempt(key: string, limit: number, windowMs: number): Promise<LimitDecision> {
      checkLimitArguments(limit, windowMs);
      const at = now();
      if (at - lastSweep >= sweepIntervalMs) sweep(at);

      let window = windows.get(key);
      if (window === undefined) {
        window = { stamps: [], windowMs };
        windows.set(key, window);
      }
      window.windowMs = windowMs;
      trim(window, at);

      const count = window.stamps.length;
      if (count < limit) {
        window.stamps.push(at);
        return { allowed: true, remaining: limit - count - 1, retryAfterMs: 0 };
      }
      // As in the Lua script: the attempt whose departure leaves limit - 1 behind.
      const freeing = window.stamps[count - limit] as number;
      return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, Math.ceil(freeing + windowMs - at)) };
    },

    keyCount(): number {
      return windows.size;
    },
  };
}
