// Turns any failure of a Redis round trip into state_unavailable, so callers refuse
// (503 / close 4503) instead of waving a request through unlimited or unaudited.

import { GatewayError } from '../errors.js';

/**
 * Runs one Redis operation. Every failure (unreachable, timed out, offline, OOM, READONLY,
 * LOADING, a script error) becomes `GatewayError('state_unavailable')` with the original
 * error as `cause`: whichever it was, the store could not answer, and the safe answer is no.
 */
export async function callRedis<T>(operation: () => Promise<T>): Promise<T> {
  try {
    return await operation();
  } catch (err) {
    if (err instanceof GatewayError) throw err;
    throw new GatewayError('state_unavailable', { cause: err });
  }
}
