// Tencent allows 10 API requests per second; this fleet-wide budget spends them before
// Tencent does, briefly waiting for a slot since a second's window frees quickly.

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
  /** The longest a caller waits, in total, for a slot before being refused. Default 2000. */
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
   * Resolves once a request is allowed (and recorded), waiting for a slot if one frees within
   * `maxWaitMs`. Throws `GatewayError('rate_limited')` with `retryAfterSeconds` otherwise, or
   * `GatewayError('state_unavailable')` when the limiter's store is unreachable.
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
  if (!(windowMs >= WINDOW_MS)) throw new RangeError('safetyMarginMs must be a non-negative number.');
  if (!Number.isFinite(maxWaitMs) || maxWaitMs < 0) throw new RangeError('maxWaitMs must be a non-negative number.');

  return {
    async take(): Promise<void> {
      let waitedMs = 0;
      for (;;) {
        const decision = await limiter.attempt(key, requestsPerSecond, windowMs);
        if (decision.allowed) return;
        // Waiters woken together race for the freed slot; losers get a fresh retryAfterMs
        // and wait again, all within the same total bound.
        if (waitedMs + decision.retryAfterMs > maxWaitMs) {
          const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
          throw new GatewayError('rate_limited', {
            retryAfterSeconds,
            message: `The gateway is at its Tencent Cloud API limit; try again in ${retryAfterSeconds} s.`,
          });
        }
        await sleep(decision.retryAfterMs);
        waitedMs += decision.retryAfterMs;
      }
    },
  };
}
