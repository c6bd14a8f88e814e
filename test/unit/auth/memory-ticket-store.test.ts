import { describe, expect, it } from 'vitest';
import { createMemoryTicketStore } from '../../../auth/memory-ticket-store.js';

function manualClock(start = 0): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

describe('memory ticket store', () => {
  it('returns a saved value once', async () => {
    const store = createMemoryTicketStore();
    await store.save('k', 'v', 1000);
    await expect(store.take('k')).resolves.toBe('v');
    await expect(store.take('k')).resolves.toBeUndefined();
  });

  it('returns nothing for an unknown key', async () => {
    await expect(createMemoryTicketStore().take('nope')).resolves.toBeUndefined();
  });

  it('forgets a value when its ttl has passed', async () => {
    const clock = manualClock();
    const store = createMemoryTicketStore({ now: clock.now });
    await store.save('k', 'v', 1000);
    clock.advance(999);
    await store.save('k2', 'v2', 1000);
    clock.advance(1);
    await expect(store.take('k')).resolves.toBeUndefined();
    await expect(store.take('k2')).resolves.toBe('v2');
  });

  it('sweeps expired entries so it does not grow without bound', async () => {
    const clock = manualClock();
    const store = createMemoryTicketStore({ now: clock.now, sweepIntervalMs: 1000 });
    for (let i = 0; i < 100; i++) await store.save(`k${i}`, 'v', 500);
    expect(store.size()).toBe(100);
    clock.advance(1000);
    await store.save('fresh', 'v', 500);
    expect(store.size()).toBe(1);
  });

  it('refuses new entries beyond its capacity, then accepts them once old ones expire', async () => {
    const clock = manualClock();
    const store = createMemoryTicketStore({ now: clock.now, maxEntries: 3 });
    for (let i = 0; i < 3; i++) await store.save(`k${i}`, 'v', 500);
    await expect(store.save('k3', 'v', 500)).rejects.toMatchObject({ code: 'state_unavailable' });
    clock.advance(500);
    await expect(store.save('k3', 'v', 500)).resolves.toBeUndefined();
    expect(store.size()).toBe(1);
  });

  it.each([0, -5, Number.NaN])('refuses a ttl of %s ms', async (ttlMs) => {
    await expect(createMemoryTicketStore().save('k', 'v', ttlMs)).rejects.toThrow(/ttlMs/);
  });
});
