// Tencent counts every DescribeInstanceVncUrl call against the instance's 30 attempts per minute,
// retries included; this charges each retry to the instance's connect budget before it is made.

import type { InstanceConnectBudget } from './instance-connect-budget.js';
import { withScope } from './session-admission.js';

/** Called before each DescribeInstanceVncUrl call of a session, numbered from 1. */
export type BeforeVncUrlCall = (instanceId: string, call: number) => Promise<void>;

/**
 * Creates the per-call hook for tencent/vnc-url-service.ts. The first call was charged when
 * the session was admitted (session-admission.ts); each later one takes a slot, and when the
 * instance's minute is spent the hook throws GatewayError('rate_limited') with scope
 * `instance`, which ends the retries: the session closes 4429 with the wait, rather than
 * spending calls Tencent would refuse (LimitExceeded) or count against the next minute.
 */
export function createRetryConnectCharge(budget: InstanceConnectBudget): BeforeVncUrlCall {
  return async function chargeRetry(instanceId, call) {
    if (call <= 1) return;
    try {
      await budget.take(instanceId);
    } catch (error) {
      throw withScope(error, 'instance');
    }
  };
}
