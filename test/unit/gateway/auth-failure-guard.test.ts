import { describe, expect, it } from 'vitest';
import { createAuthFailureGuard } from '../../../gateway/auth-failure-guard.js';
import { GatewayError } from '../../../gateway/errors.js';
import { createMemoryLimiter } from '../../../gateway/limits/memory-limiter.js';

function setup(failuresPerMinute = 2) {
  let t = 1_000;
  const now = (): number => t;
  const guard = createAuthFailureGuard({ limiter: createMemoryLimiter({ now }), failuresPerMinute, now });
  return { guard, advance: (ms: number) => void (t += ms) };
}

describe('createAuthFailureGuard', () => {
  it('answers nothing up to the threshold, then a rate_limited error with the wait', async () => {
    const { guard } = setup(2);
    expect(await guard.recordFailure('192.0.2.1')).toBeUndefined();
    expect(await guard.recordFailure('192.0.2.1')).toBeUndefined();
    const limited = await guard.recordFailure('192.0.2.1');
    expect(limited).toBeInstanceOf(GatewayError);
    expect(limited).toMatchObject({ code: 'rate_limited', httpStatus: 429, closeCode: 4429, retryAfterSeconds: 60 });
  });

  it('blocks the address up front once it went over, until the window frees a slot', async () => {
    const { guard, advance } = setup(1);
    expect(() => guard.check('192.0.2.1')).not.toThrow();
    await guard.recordFailure('192.0.2.1');
    expect(() => guard.check('192.0.2.1')).not.toThrow();
    await guard.recordFailure('192.0.2.1');
    expect(() => guard.check('192.0.2.1')).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    expect(() => guard.check('192.0.2.2')).not.toThrow();
    advance(60_000);
    expect(() => guard.check('192.0.2.1')).not.toThrow();
  });

  it('does not reject when the store fails; it reports the failure instead', async () => {
    const seen: unknown[] = [];
    const guard = createAuthFailureGuard({
      limiter: { attempt: () => Promise.reject(new GatewayError('state_unavailable')) },
      failuresPerMinute: 1,
      onStoreError: (error) => seen.push(error),
    });
    expect(await guard.recordFailure('192.0.2.1')).toBeUndefined();
    expect(seen).toHaveLength(1);
  });

  it('refuses a threshold that is not a positive integer', () => {
    expect(() => createAuthFailureGuard({ limiter: createMemoryLimiter(), failuresPerMinute: 0 })).toThrow(RangeError);
  });
});
