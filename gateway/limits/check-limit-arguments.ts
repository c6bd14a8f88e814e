// Argument checks shared by every SlidingWindowLimiter implementation.

/** Throws RangeError unless `limit` and `windowMs` are positive integers: a programming error, not a limit. */
export function checkLimitArguments(limit: number, windowMs: number): void {
  if (!Number.isSafeInteger(limit) || limit < 1) throw new RangeError('limit must be a positive integer.');
  if (!Number.isSafeInteger(windowMs) || windowMs < 1) throw new RangeError('windowMs must be a positive integer.');
}

/** As {@link checkLimitArguments}, and `maxWaitMs` must be a non-negative integer. */
export function checkReserveArguments(limit: number, windowMs: number, maxWaitMs: number): void {
  checkLimitArguments(limit, windowMs);
  if (!Number.isSafeInteger(maxWaitMs) || maxWaitMs < 0) throw new RangeError('maxWaitMs must be a non-negative integer.');
}
