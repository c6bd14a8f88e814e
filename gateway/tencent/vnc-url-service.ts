// Gets an instance's VNC URL the way a session needs it: the right account and region, one
// fleet-budget slot per attempt, transient failures retried with jittered backoff inside the
// session's connect deadline, and the URL fetched last, so the upstream dial follows at once.

import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { AccountRouter } from './accounts.js';
import type { RegionResolver } from './regions.js';
import { DEFAULT_MIN_ATTEMPT_MS, withTencentRetries, type RetryOptions } from './retry.js';
import { describeInstanceVncUrl, type HostAllowlist, type VncUrl } from './vnc-url.js';

export interface VncUrlRequest {
  /** The region the user asked for (ticket body, console `?region=`), already validated. */
  region?: string;
  /** False once the client has gone: no further attempt, no budget spent. */
  stillWanted?: () => boolean;
}

export interface VncUrlResult extends VncUrl {
  account: string;
  region: string;
  /** How many DescribeInstanceVncUrl calls it took. */
  attempts: number;
}

/** Fetches the VNC URL for one session. */
export type VncUrlService = (instanceId: string, request?: VncUrlRequest) => Promise<VncUrlResult>;

export interface VncUrlServiceOptions {
  accounts: AccountRouter;
  regions: RegionResolver;
  allowHost: HostAllowlist;
  /** How long getting the URL may take, retries and budget waits included. */
  connectDeadlineMs: number;
  logger?: Logger;
  now?: () => number;
  retry?: Omit<RetryOptions, 'deadlineMs' | 'now' | 'onRetry'>;
  /** Runs before each call (numbered from 1); may throw to stop (limits/retry-connect-charge.ts). */
  beforeCall?: (instanceId: string, call: number) => Promise<void>;
}

export function createVncUrlService(options: VncUrlServiceOptions): VncUrlService {
  const now = options.now ?? Date.now;
  return async function vncUrlFor(instanceId, request = {}) {
    const account = options.accounts.accountFor(instanceId);
    if (account === undefined) {
      throw new GatewayError('tencent_api_error', {
        message: 'No Tencent Cloud account is configured for this instance.',
        upstreamCode: 'NoAccountForInstance',
      });
    }
    const region = options.regions(instanceId, request.region, account.region);
    const stillWanted = request.stillWanted ?? (() => true);
    const deadlineMs = now() + options.connectDeadlineMs;
    const minAttemptMs = options.retry?.minAttemptMs ?? DEFAULT_MIN_ATTEMPT_MS;
    let attempts = 0;
    const result = await withTencentRetries(
      async () => {
        if (!stillWanted()) throw new GatewayError('bad_request', { message: 'client left during setup' });
        // Every attempt is a request Tencent counts, so every attempt spends a budget slot.
        await account.budget.take().catch((error: unknown) => {
          throw Object.assign(error as Error, { scope: 'api' });
        });
        if (!stillWanted()) throw new GatewayError('bad_request', { message: 'client left during setup' });
        await options.beforeCall?.(instanceId, attempts + 1);
        // The wait for a slot (up to 2 s) came out of the deadline: measure what is left now.
        const remainingMs = deadlineMs - now();
        if (remainingMs < minAttemptMs) {
          throw new GatewayError('tencent_api_timeout', {
            upstreamCode: 'Timeout',
            cause: new Error(`${Math.max(0, remainingMs)} ms of the connect deadline left after waiting for an API budget slot`),
          });
        }
        attempts++;
        return describeInstanceVncUrl(account.client, instanceId, options.allowHost, region, remainingMs);
      },
      {
        ...options.retry,
        deadlineMs,
        now,
        onRetry: (error, attempt, delayMs) =>
          options.logger?.info({ instanceId, account: account.name, region, attempt, delayMs, upstreamCode: error.upstreamCode, tencentRequestId: error.requestId }, 'retrying Tencent Cloud call'),
      },
    );
    return { ...result, account: account.name, region, attempts };
  };
}
