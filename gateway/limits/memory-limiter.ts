// The in-process sliding-window limiter for a single replica (no REDIS_URL): the same
// answers as redis-limiter.ts, with memory bounded by sweeping keys whose window has passed.

import { checkLimitArguments, checkReserveArguments } from './check-limit-arguments.js';
import type { LimitDecision, Reservation, SlidingWindowLimiter } from './limiter.js';

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

interface Entry {
  at: number;
  id: string;
}

interface Window {
  /**
   * Recorded attempts (or reserved turns, which may lie ahead of now), oldest first; never
   * more than the largest limit used, plus turns still ahead.
   */
  entries: Entry[];
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
  let nextId = 0;

  function trim(window: Window, at: number): void {
    let expired = 0;
    while (expired < window.entries.length && (window.entries[expired] as Entry).at <= at - window.windowMs) expired++;
    if (expired > 0) window.entries.splice(0, expired);
  }

  function sweep(at: number): void {
    lastSweep = at;
    for (const [key, window] of windows) {
      trim(window, at);
      if (window.entries.length === 0) windows.delete(key);
    }
  }

  /** The key's window at `at`, trimmed, created if absent. */
  function windowAt(key: string, windowMs: number, at: number): Window {
    if (at - lastSweep >= sweepIntervalMs) sweep(at);
    let window = windows.get(key);
    if (window === undefined) {
      window = { entries: [], windowMs };
      windows.set(key, window);
    }
    window.windowMs = windowMs;
    trim(window, at);
    return window;
  }

  return {
    async attempt(key: string, limit: number, windowMs: number): Promise<LimitDecision> {
      checkLimitArguments(limit, windowMs);
      const at = now();
      const window = windowAt(key, windowMs, at);
      const count = window.entries.length;
      if (count < limit) {
        const attemptId = String(++nextId);
        window.entries.push({ at, id: attemptId });
        return { allowed: true, remaining: limit - count - 1, retryAfterMs: 0, attemptId };
      }
      // As in the Lua script: the attempt whose departure leaves limit - 1 behind.
      const freeing = (window.entries[count - limit] as Entry).at;
      return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, Math.ceil(freeing + windowMs - at)) };
    },

    async forget(key: string, attemptId: string): Promise<void> {
      const window = windows.get(key);
      const index = window?.entries.findIndex((entry) => entry.id === attemptId) ?? -1;
      if (index >= 0) window?.entries.splice(index, 1);
    },

    async reserve(key: string, limit: number, windowMs: number, maxWaitMs: number): Promise<Reservation> {
      checkReserveArguments(limit, windowMs, maxWaitMs);
      const at = now();
      const window = windowAt(key, windowMs, at);
      const { entries } = window;
      // As in the Lua script: the turn is when the limit-th most recent turn leaves the window.
      const nth = entries.length >= limit ? (entries[entries.length - limit] as Entry).at + windowMs : at;
      const turn = Math.max(at, nth);
      const waitMs = Math.ceil(turn - at);
      if (waitMs > maxWaitMs) return { granted: false, retryAfterMs: waitMs };
      // Turns only move forward while the limit stays; after a raised limit one may fall
      // between turns already handed out, and the list stays in order.
      let index = entries.length;
      while (index > 0 && (entries[index - 1] as Entry).at > turn) index--;
      entries.splice(index, 0, { at: turn, id: String(++nextId) });
      return { granted: true, waitMs };
    },

    keyCount(): number {
      return windows.size;
    },
  };
}
