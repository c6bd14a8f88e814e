// Which Tencent Cloud failures are worth another attempt, and the jittered backoff loop that
// makes them inside a deadline. Throttling, internal errors, unavailability and network
// failures are transient; authentication, not-found, malformed ids and instance states are
// answers, and asking again would only spend the budget.

import { setTimeout as delay } from 'node:timers/promises';
import { GatewayError, isGatewayError } from '../errors.js';

/** True when another attempt may succeed. */
export function isRetryableTencentError(error: unknown): boolean {
  if (!isGatewayError(error)) return false;
  if (error.code === 'tencent_api_timeout') return true;
  if (error.code !== 'tencent_api_error') return false;
  const code = error.upstreamCode ?? '';
  return (
    code.startsWith('RequestLimitExceeded') ||
    code.startsWith('InternalError') ||
    code === 'ServiceUnavailable' ||
    code === 'NetworkError' ||
    // A load balancer's 5xx page instead of an API answer.
    /^HTTP5\d\d$/.test(code)
  );
}

/** An attempt needs a round trip: none starts with less time than this left (default of minAttemptMs). */
export const DEFAULT_MIN_ATTEMPT_MS = 500;

export interface RetryOptions {
  /** Milliseconds since the epoch after which no attempt starts. */
  deadlineMs: number;
  /** An attempt is only started with at least this much time left (it needs a round trip). */
  minAttemptMs?: number;
  maxAttempts?: number;
  /** Backoff before attempt n (from 1) is random() × min(maxDelayMs, baseDelayMs × 2^(n-1)). */
  baseDelayMs?: number;
  maxDelayMs?: number;
  now?: () => number;
  sleep?: (ms: number) => Promise<void>;
  random?: () => number;
  /** Told about each failed attempt that will be retried (for the diagnostic log). */
  onRetry?: (error: GatewayError, attempt: number, delayMs: number) => void;
}

/**
 * Runs `attempt(remainingMs)` until it succeeds, fails with a non-retryable error, or the
 * deadline or attempt limit is reached; then the last error is thrown unchanged.
 */
export async function withTencentRetries<T>(attempt: (remainingMs: number, attemptNumber: number) => Promise<T>, options: RetryOptions): Promise<T> {
  const now = options.now ?? Date.now;
  const sleep = options.sleep ?? ((ms: number) => delay(ms));
  const random = options.random ?? Math.random;
  const minAttemptMs = options.minAttemptMs ?? DEFAULT_MIN_ATTEMPT_MS;
  const maxAttempts = options.maxAttempts ?? 4;
  const baseDelayMs = options.baseDelayMs ?? 200;
  const maxDelayMs = options.maxDelayMs ?? 2000;
  for (let n = 1; ; n++) {
    try {
      return await attempt(Math.max(0, options.deadlineMs - now()), n);
    } catch (error) {
      if (!isRetryableTencentError(error) || n >= maxAttempts) throw error;
      // Full jitter: replicas that failed together do not retry together.
      const delayMs = Math.round(random() * Math.min(maxDelayMs, baseDelayMs * 2 ** (n - 1)));
      if (now() + delayMs + minAttemptMs > options.deadlineMs) throw error;
      options.onRetry?.(error as GatewayError, n, delayMs);
      await sleep(delayMs);
    }
  }
}
