// Memory-only behaviour of the in-process limiter: idle keys are forgotten, so memory stays bounded.

import { describe, expect, it } from 'vitest';
import { createMemoryLimiter } from '../../../gateway/limits/memory-limiter.js';

describe('memory limiter', () => {
  it('forgets keys whose window has passed, without being asked about them again', async () => {
    let clock = 0;
    const limiter = createMemoryLimiter({ now: () => clock, sweepIntervalMs: 1000 });
    for (let i = 0; i < 1000; i++) await limiter.attempt(`instance-connects:lhins-${i}`, 30, 60_000);
    expect(limiter.keyCount()).toBe(1000);
    clock += 60_000;
    await limiter.attempt('api-calls', 10, 1000);
    expect(limiter.keyCount()).toBe(1);
  });

  it('keeps a key whose window still holds an attempt', async () => {
    let clock = 0;
    const limiter = createMemoryLimiter({ now: () => clock, sweepIntervalMs: 1000 });
    await limiter.attempt('long', 1, 60_000);
    await limiter.attempt('short', 1, 1000);
    clock += 5000;
    await limiter.attempt('other', 1, 1000);
    expect(limiter.keyCount()).toBe(2);
    expect((await limiter.attempt('long', 1, 60_000)).allowed).toBe(false);
  });
});
