// Tencent allows 10 API requests per second; this fleet-wide budget spends them before
// Tencent does. Callers queue first come, first served for a turn a second's window frees.

import { setTimeout as delay } from 'node:timers/promises';
import { GatewayError } from '../errors.js';
import type { SlidingWindowLimiter } from './limiter.js';

/** Tencent Cloud's own API limit: requests per second. */
export const TENCENT_API_REQUESTS_PER_SECOND = 10;

/** Options for {@link createApiBudget}. */
export interface ApiBudgetOptions {
  limiter: SlidingWindowLimiter;
  /** Requests per sliding second across the fleet, 1–10. */
  requestsPerSecond: number;
  /** The longest a caller waits for its turn before being refused. Default 2000. */
  maxWaitMs?: number;
  /**
   * Added to the one-second window. Calls reach Tencent after varying delays (a new TLS
   * connection, a slow hop), so two calls stamped 1000 ms apart here can land < 1000 ms apart
   * there; counting over a longer window keeps every Tencent-side second within budget.
   * Default 250.
   */
  safetyMarginMs?: number;
  /** Waits `ms`; injectable so tests drive a fake clock. Default a timer. */
  sleep?: (ms: number) => Promise<void>;
  /** The limiter key; one per Tencent Cloud account, since Tencent counts per account. Default `api-calls`. */
  key?: string;
}

/** Spends one request of the fleet's API budget. */
export interface ApiBudget {
  /**
   * Resolves at the caller's turn, waiting for it if it comes within `maxWaitMs`. Turns are
   * given in the order callers arrive, fleet-wide. Throws `GatewayError('rate_limited')` at
   * once, with `retryAfterSeconds` (the wait its turn would have needed), when the turn is
   * further away; or `GatewayError('state_unavailable')` when the limiter's store is unreachable.
   */
  take(): Promise<void>;
}

const WINDOW_MS = 1000;
const KEY = 'api-calls';

/** Creates the fleet-wide API budget; throws RangeError for a rate outside 1–10 or a negative wait. */
export function createApiBudget(options: ApiBudgetOptions): ApiBudget {
  const { limiter, requestsPerSecond } = options;
  const maxWaitMs = options.maxWaitMs ?? 2000;
  const windowMs = WINDOW_MS + (options.safetyMarginMs ?? 250);
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const key = options.key ?? KEY;
  if (!Number.isInteger(requestsPerSecond) || requestsPerSecond < 1 || requestsPerSecond > TENCENT_API_REQUESTS_PER_SECOND) {
    throw new RangeError(`requestsPerSecond must be an integer from 1 to ${TENCENT_API_REQUESTS_PER_SECOND} (Tencent's limit).`);
  }
  if (!Number.isInteger(windowMs) || windowMs < WINDOW_MS) throw new RangeError('safetyMarginMs must be a non-negative integer.');
  if (!Number.isInteger(maxWaitMs) || maxWaitMs < 0) throw new RangeError('maxWaitMs must be a non-negative integer.');

  return {
    async take(): Promise<void> {
      // One reservation, one sleep: the turn is held in the store while the caller waits, so a
      // newcomer cannot take it (waiters woken together to race for a slot would not be fair).
      const turn = await limiter.reserve(key, requestsPerSecond, windowMs, maxWaitMs);
      if (!turn.granted) {
        const retryAfterSeconds = Math.max(1, Math.ceil(turn.retryAfterMs / 1000));
        throw new GatewayError('rate_limited', {
          retryAfterSeconds,
          message: `The gateway is at its Tencent Cloud API limit; try again in ${retryAfterSeconds} s.`,
        });
      }
      if (turn.waitMs > 0) await sleep(turn.waitMs);
    },
  };
}
