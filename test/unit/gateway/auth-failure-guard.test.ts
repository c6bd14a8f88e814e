import { describe, expect, it } from 'vitest';
import { createAuthFailureGuard, failureCountKey } from '../../../gateway/auth-failure-guard.js';
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

  it('counts IPv6 clients per /64, the block one subscriber gets, so rotating addresses in it does not help', async () => {
    const { guard } = setup(2);
    expect(await guard.recordFailure('2001:db8:abcd:12::1')).toBeUndefined();
    expect(await guard.recordFailure('2001:DB8:ABCD:0012:ffff:ffff:ffff:fffe')).toBeUndefined();
    expect(await guard.recordFailure('2001:db8:abcd:12:0:0:0:99')).toMatchObject({ code: 'rate_limited' });
    // Every address of the /64 is refused up front; the neighbouring /64 is not.
    expect(() => guard.check('2001:db8:abcd:12:dead:beef::7')).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    expect(() => guard.check('2001:db8:abcd:13::1')).not.toThrow();
    expect(await guard.recordFailure('2001:db8:abcd:13::1')).toBeUndefined();
  });

  it('counts IPv4 per address, and an IPv4-mapped IPv6 address as its IPv4 address', async () => {
    const { guard } = setup(1);
    expect(await guard.recordFailure('192.0.2.1')).toBeUndefined();
    expect(await guard.recordFailure('::ffff:192.0.2.1')).toMatchObject({ code: 'rate_limited' });
    expect(() => guard.check('::FFFF:c000:201')).toThrow(expect.objectContaining({ code: 'rate_limited' }));
    expect(() => guard.check('192.0.2.2')).not.toThrow();
    expect(await guard.recordFailure('192.0.2.2')).toBeUndefined();
  });

  it.each([
    ['192.0.2.1', '192.0.2.1'],
    ['::ffff:192.0.2.1', '192.0.2.1'],
    ['::ffff:c000:0201', '192.0.2.1'],
    ['2001:db8::1', '2001:db8:0:0::/64'],
    ['2001:0DB8:0000:0000:1:2:3:4', '2001:db8:0:0::/64'],
    ['fe80::1%eth0', 'fe80:0:0:0::/64'],
    ['::1', '0:0:0:0::/64'],
    ['64:ff9b::192.0.2.1', '64:ff9b:0:0::/64'],
    ['unknown', 'unknown'],
  ])('counts %s under %s', (address, key) => {
    expect(failureCountKey(address)).toBe(key);
  });

  it('does not reject when the store fails; it reports the failure instead', async () => {
    const seen: unknown[] = [];
    const guard = createAuthFailureGuard({
      limiter: {
        attempt: () => Promise.reject(new GatewayError('state_unavailable')),
        forget: () => Promise.reject(new GatewayError('state_unavailable')),
        reserve: () => Promise.reject(new GatewayError('state_unavailable')),
      },
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
