// Tencent allows 30 DescribeInstanceVncUrl connection attempts per instance per minute; this
// budget spends them fleet-wide before Tencent does, so users get "try again in N s".

import { GatewayError } from '../errors.js';
import type { SlidingWindowLimiter } from './limiter.js';

/** Tencent Cloud's own per-instance limit: attempts per minute. */
export const TENCENT_CONNECTS_PER_MINUTE = 30;

/** Options for {@link createInstanceConnectBudget}. */
export interface InstanceConnectBudgetOptions {
  limiter: SlidingWindowLimiter;
  /** Attempts per instance per sliding minute, 1–30. */
  connectsPerMinute: number;
}

/** Spends one connection attempt of an instance's per-minute budget. */
export interface InstanceConnectBudget {
  /**
   * Resolves when an attempt on `instanceId` is allowed (and recorded). Throws
   * `GatewayError('rate_limited')` with `retryAfterSeconds` when the instance's minute is
   * spent, or `GatewayError('state_unavailable')` when the limiter's store is unreachable.
   */
  take(instanceId: string): Promise<void>;
}

const WINDOW_MS = 60_000;

/** Creates the per-instance budget; throws RangeError for a rate outside 1–30. */
export function createInstanceConnectBudget(options: InstanceConnectBudgetOptions): InstanceConnectBudget {
  const { limiter, connectsPerMinute } = options;
  if (!Number.isInteger(connectsPerMinute) || connectsPerMinute < 1 || connectsPerMinute > TENCENT_CONNECTS_PER_MINUTE) {
    throw new RangeError(`connectsPerMinute must be an integer from 1 to ${TENCENT_CONNECTS_PER_MINUTE} (Tencent's limit).`);
  }
  return {
    async take(instanceId: string): Promise<void> {
      const decision = await limiter.attempt(`instance-connects:${instanceId}`, connectsPerMinute, WINDOW_MS);
      if (decision.allowed) return;
      const retryAfterSeconds = Math.max(1, Math.ceil(decision.retryAfterMs / 1000));
      throw new GatewayError('rate_limited', {
        retryAfterSeconds,
        message: `This instance had too many connection attempts in the last minute; try again in ${retryAfterSeconds} s.`,
      });
    },
  };
}
