// One contract for the shared-state stores, run against the in-process implementations, the
// Redis ones on a real Redis at 127.0.0.1:6379 (a unique key prefix per test), and the Redis
// ones on a real 3-master Redis Cluster this file starts and kills.

import { randomUUID } from 'node:crypto';
import { setTimeout as delay } from 'node:timers/promises';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryTicketStore } from '../../../auth/memory-ticket-store.js';
import type { TicketStore } from '../../../auth/ticket-store.js';
import { GatewayError } from '../../../gateway/errors.js';
import { createLogger } from '../../../gateway/logger.js';
import { createApiBudget } from '../../../gateway/limits/api-budget.js';
import { createInstanceConnectBudget } from '../../../gateway/limits/instance-connect-budget.js';
import type { SlidingWindowLimiter } from '../../../gateway/limits/limiter.js';
import { createMemoryLimiter } from '../../../gateway/limits/memory-limiter.js';
import { createRedisLimiter } from '../../../gateway/limits/redis-limiter.js';
import { createRedisClient } from '../../../gateway/state/redis-client.js';
import { createRedisTicketStore } from '../../../gateway/state/redis-ticket-store.js';
import { createMemorySessionStore } from '../../../gateway/sessions/memory-session-store.js';
import { createRedisSessionStore } from '../../../gateway/sessions/redis-session-store.js';
import type { TerminateRequest } from '../../../gateway/sessions/fleet-sessions.js';
import { createRedisTerminationBus, type TerminationBus } from '../../../gateway/sessions/termination-bus.js';
import type { SessionRecord, SessionStore } from '../../../gateway/sessions/session-store.js';
import type { RedisConnection } from '../../../gateway/state/redis-client.js';
import { within } from '../../helpers/gateway-harness.js';
import { startThrowawayCluster, type ThrowawayCluster } from './throwaway-cluster.js';

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** What one test gets: two "replicas" sharing state, and a clock it can move. */
interface Harness {
  /** Two views of the same state, as two gateway replicas would have (two connections for Redis). */
  limiters: [SlidingWindowLimiter, SlidingWindowLimiter];
  tickets: [TicketStore, TicketStore];
  sessions: [SessionStore, SessionStore];
  /** Lets `ms` pass on the store's clock: a fake clock for memory, real time for Redis. */
  advance(ms: number): Promise<void>;
  /**
   * A timer on the store's clock, for code that sleeps while others run: for memory the fake
   * clock jumps to the earliest pending timer once nothing else can run; real time for Redis.
   */
  sleep(ms: number): Promise<void>;
  /** The store's clock now (ms): the fake clock for memory, `performance.now()` for Redis. */
  now(): number;
  /** True when no time passes unless the test advances it, so timings can be asserted exactly. */
  exactClock: boolean;
}

interface Variant {
  name: string;
  /** Sliding-window tests wait for this much of a window; short for real time. */
  windowMs: number;
  /** A fresh namespace (or fresh memory) for one test. */
  harness(): Harness;
  /** Starts what the variant needs (the Cluster), once, before its tests. */
  setup?(): Promise<void>;
  cleanup?(): Promise<void>;
  close?(): Promise<void>;
}

/**
 * A fake clock with timers: `sleep` registers one, and once every promise that can settle has
 * (a setImmediate later), the clock jumps to the earliest timer and resolves the timers due,
 * in the order they were set.
 */
function fakeClock(start: number): { now(): number; advance(ms: number): void; sleep(ms: number): Promise<void> } {
  let clock = start;
  let sequence = 0;
  let scheduled = false;
  const timers: { at: number; seq: number; resolve: () => void }[] = [];
  const fire = (): void => {
    scheduled = false;
    if (timers.length === 0) return;
    timers.sort((x, y) => x.at - y.at || x.seq - y.seq);
    clock = Math.max(clock, (timers[0] as { at: number }).at);
    const due = timers.filter((t) => t.at <= clock);
    timers.splice(0, due.length);
    for (const timer of due) timer.resolve();
    schedule();
  };
  const schedule = (): void => {
    if (scheduled || timers.length === 0) return;
    scheduled = true;
    setImmediate(fire);
  };
  return {
    now: () => clock,
    advance: (ms) => {
      clock += ms;
    },
    sleep: (ms) =>
      new Promise<void>((resolve) => {
        timers.push({ at: clock + ms, seq: sequence++, resolve });
        schedule();
      }),
  };
}

function memoryVariant(): Variant {
  return {
    name: 'memory',
    windowMs: 1000,
    harness() {
      const clock = fakeClock(1_000_000);
      const limiter = createMemoryLimiter({ now: clock.now });
      const store = createMemoryTicketStore({ now: clock.now });
      const sessions = createMemorySessionStore({ now: clock.now });
      return {
        // One process: both "replicas" are the same object.
        limiters: [limiter, limiter],
        tickets: [store, store],
        sessions: [sessions, sessions],
        advance: async (ms) => clock.advance(ms),
        sleep: clock.sleep,
        now: clock.now,
        exactClock: true,
      };
    },
  };
}

function redisVariant(): Variant {
  let first: Redis | undefined;
  let second: Redis | undefined;
  const prefixes: string[] = [];
  return {
    name: 'redis',
    windowMs: 500,
    harness() {
      first ??= createRedisClient(REDIS_URL, { name: 'vnc-gateway-test-a' });
      second ??= createRedisClient(REDIS_URL, { name: 'vnc-gateway-test-b' });
      const keyPrefix = `test:state-contract:${randomUUID()}:`;
      prefixes.push(keyPrefix);
      return {
        limiters: [
          createRedisLimiter({ redis: first, keyPrefix: `${keyPrefix}limit:` }),
          createRedisLimiter({ redis: second, keyPrefix: `${keyPrefix}limit:` }),
        ],
        tickets: [
          createRedisTicketStore({ redis: first, keyPrefix: `${keyPrefix}ticket:` }),
          createRedisTicketStore({ redis: second, keyPrefix: `${keyPrefix}ticket:` }),
        ],
        sessions: [createRedisSessionStore({ redis: first, keyPrefix }), createRedisSessionStore({ redis: second, keyPrefix })],
        advance: (ms) => delay(ms),
        sleep: (ms) => delay(ms),
        now: () => performance.now(),
        exactClock: false,
      };
    },
    async cleanup() {
      // Only this test's keys: never FLUSHALL a shared Redis.
      for (const prefix of prefixes.splice(0)) {
        const keys = (await first?.keys(`${prefix}*`)) ?? [];
        if (keys.length > 0) await first?.del(...keys);
      }
    },
    async close() {
      await Promise.all([first?.quit(), second?.quit()]);
    },
  };
}

/**
 * The same stores on a throwaway 3-master Cluster, through the gateway's own Cluster client
 * (createRedisConnection, as REDIS_CLUSTER_NODES builds it): every script must keep to one slot.
 */
function clusterVariant(): Variant & { cluster(): ThrowawayCluster } {
  let cluster: ThrowawayCluster | undefined;
  let first: Cluster | undefined;
  let second: Cluster | undefined;
  const connection = (client: Cluster | undefined): RedisConnection => {
    if (client === undefined) throw new Error('the cluster variant was not set up');
    return client;
  };
  return {
    name: 'redis cluster',
    windowMs: 500,
    cluster() {
      if (cluster === undefined) throw new Error('the cluster variant was not set up');
      return cluster;
    },
    async setup() {
      cluster ??= await startThrowawayCluster();
      first ??= cluster.connect('vnc-gateway-test-a');
      second ??= cluster.connect('vnc-gateway-test-b');
    },
    harness() {
      // The cluster is thrown away after the run, so keys need no cleanup.
      const keyPrefix = `test:state-contract:${randomUUID()}:`;
      const [a, b] = [connection(first), connection(second)];
      return {
        limiters: [createRedisLimiter({ redis: a, keyPrefix: `${keyPrefix}limit:` }), createRedisLimiter({ redis: b, keyPrefix: `${keyPrefix}limit:` })],
        tickets: [createRedisTicketStore({ redis: a, keyPrefix: `${keyPrefix}ticket:` }), createRedisTicketStore({ redis: b, keyPrefix: `${keyPrefix}ticket:` })],
        sessions: [createRedisSessionStore({ redis: a, keyPrefix }), createRedisSessionStore({ redis: b, keyPrefix })],
        advance: (ms) => delay(ms),
        sleep: (ms) => delay(ms),
        now: () => performance.now(),
        exactClock: false,
      };
    },
    async close() {
      first?.disconnect();
      second?.disconnect();
      await cluster?.stop();
    },
  };
}

const cluster = clusterVariant();
const variants = [memoryVariant(), redisVariant(), cluster];

afterAll(async () => {
  for (const variant of variants) await variant.close?.();
});

let sessionCounter = 0;
function sessionRecord(overrides: Partial<SessionRecord> = {}): SessionRecord {
  sessionCounter += 1;
  return {
    sessionId: `s-${sessionCounter}-${randomUUID()}`,
    sub: 'alice',
    email: 'alice@example.com',
    instanceId: 'lhins-abc123',
    clientIp: '192.0.2.1',
    replicaId: 'replica-a',
    startedAt: 1_700_000_000_000,
    state: 'starting',
    bytesFromClient: 0,
    bytesFromUpstream: 0,
    ...overrides,
  };
}

/** Resolves to the GatewayError `promise` rejects with; fails the test if it resolves. */
async function rejection(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(GatewayError);
  return error as GatewayError;
}

describe.each(variants)('$name state stores', (variant) => {
  const fresh = (): Harness => variant.harness();
  beforeAll(async () => {
    await variant.setup?.();
  });
  afterEach(async () => {
    await variant.cleanup?.();
  });

  describe('tickets', () => {
    it('gives a saved ticket to the first take and nothing to the second', async () => {
      const [store] = fresh().tickets;
      await store.save('t-1', 'alice|lhins-abc', 30_000);
      expect(await store.take('t-1')).toBe('alice|lhins-abc');
      expect(await store.take('t-1')).toBeUndefined();
    });

    it('returns undefined for a ticket that was never saved', async () => {
      const [store] = fresh().tickets;
      expect(await store.take('never-saved')).toBeUndefined();
    });

    it('hands a ticket to exactly one of 20 concurrent takes spread over two replicas', async () => {
      const [a, b] = fresh().tickets;
      for (let round = 0; round < 5; round++) {
        await a.save(`race-${round}`, `value-${round}`, 30_000);
        const results = await Promise.all(
          Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).take(`race-${round}`)),
        );
        expect(results.filter((r) => r !== undefined)).toEqual([`value-${round}`]);
      }
    });

    it('lets a replica take a ticket another replica saved', async () => {
      const [a, b] = fresh().tickets;
      await a.save('cross', 'v', 30_000);
      expect(await b.take('cross')).toBe('v');
      expect(await a.take('cross')).toBeUndefined();
    });

    it('forgets a ticket once its TTL has passed', async () => {
      const harness = fresh();
      const [store] = harness.tickets;
      await store.save('short', 'v', 100);
      await store.save('long', 'w', 30_000);
      await harness.advance(250);
      expect(await store.take('short')).toBeUndefined();
      expect(await store.take('long')).toBe('w');
    });
  });

  describe('sliding-window limiter', () => {
    it('allows exactly limit attempts in a window, counting down remaining', async () => {
      const [limiter] = fresh().limiters;
      const decisions = [];
      for (let i = 0; i < 5; i++) decisions.push(await limiter.attempt('k', 5, 60_000));
      expect(decisions.map((d) => [d.allowed, d.remaining, d.retryAfterMs])).toEqual([
        [true, 4, 0],
        [true, 3, 0],
        [true, 2, 0],
        [true, 1, 0],
        [true, 0, 0],
      ]);
    });

    it('refuses the attempt after the limit with the time until the oldest attempt leaves the window', async () => {
      const harness = fresh();
      const [limiter] = harness.limiters;
      const started = performance.now();
      for (let i = 0; i < 3; i++) expect((await limiter.attempt('k', 3, 60_000)).allowed).toBe(true);
      await harness.advance(250);
      const refused = await limiter.attempt('k', 3, 60_000);
      const elapsed = performance.now() - started;
      expect(refused.allowed).toBe(false);
      expect(refused.remaining).toBe(0);
      if (harness.exactClock) {
        expect(refused.retryAfterMs).toBe(60_000 - 250);
      } else {
        expect(refused.retryAfterMs).toBeLessThanOrEqual(60_000 - 250);
        expect(refused.retryAfterMs).toBeGreaterThanOrEqual(60_000 - Math.ceil(elapsed) - 5);
      }
    });

    it('does not record refused attempts, so hammering does not push the retry time back', async () => {
      const harness = fresh();
      const [limiter] = harness.limiters;
      await limiter.attempt('k', 1, 60_000);
      const first = await limiter.attempt('k', 1, 60_000);
      await harness.advance(100);
      for (let i = 0; i < 10; i++) await limiter.attempt('k', 1, 60_000);
      const later = await limiter.attempt('k', 1, 60_000);
      expect(later.allowed).toBe(false);
      expect(later.retryAfterMs).toBeLessThanOrEqual(first.retryAfterMs - 100);
    });

    it('slides: once the oldest attempt leaves the window one slot frees, and only one', async () => {
      const harness = fresh();
      const [limiter] = harness.limiters;
      const windowMs = variant.windowMs;
      expect((await limiter.attempt('k', 3, windowMs)).allowed).toBe(true);
      await harness.advance(windowMs / 2);
      expect((await limiter.attempt('k', 3, windowMs)).allowed).toBe(true);
      expect((await limiter.attempt('k', 3, windowMs)).allowed).toBe(true);
      const refused = await limiter.attempt('k', 3, windowMs);
      expect(refused.allowed).toBe(false);
      expect(refused.retryAfterMs).toBeGreaterThanOrEqual(1);
      expect(refused.retryAfterMs).toBeLessThanOrEqual(windowMs / 2);

      // Just after the oldest attempt's window ends: one slot, then full again.
      await harness.advance(refused.retryAfterMs + (harness.exactClock ? 0 : 20));
      const freed = await limiter.attempt('k', 3, windowMs);
      expect(freed).toMatchObject({ allowed: true, remaining: 0 });
      const again = await limiter.attempt('k', 3, windowMs);
      expect(again.allowed).toBe(false);
      // The next slot frees when the second attempt (made half a window after the first) leaves.
      expect(again.retryAfterMs).toBeGreaterThan(windowMs / 2 - (harness.exactClock ? 1 : 150));
      expect(again.retryAfterMs).toBeLessThanOrEqual(windowMs / 2);
    });

    it('refuses until enough attempts leave when the limit is lowered below what was recorded', async () => {
      const harness = fresh();
      const [limiter] = harness.limiters;
      const windowMs = variant.windowMs * 4;
      for (let i = 0; i < 5; i++) {
        expect((await limiter.attempt('k', 5, windowMs)).allowed).toBe(true);
        await harness.advance(100);
      }
      // Five attempts ~100 ms apart; with a limit of 3 the third one (made at ~200 ms) must go.
      const refused = await limiter.attempt('k', 3, windowMs);
      expect(refused.allowed).toBe(false);
      if (harness.exactClock) expect(refused.retryAfterMs).toBe(windowMs + 200 - 500);
      else expect(Math.abs(refused.retryAfterMs - (windowMs + 200 - 500))).toBeLessThan(60);
    });

    it('keeps keys independent', async () => {
      const [limiter] = fresh().limiters;
      expect((await limiter.attempt('instance-connects:lhins-a', 1, 60_000)).allowed).toBe(true);
      expect((await limiter.attempt('instance-connects:lhins-a', 1, 60_000)).allowed).toBe(false);
      expect((await limiter.attempt('instance-connects:lhins-b', 1, 60_000)).allowed).toBe(true);
    });

    it('counts attempts from every replica against one budget, even when they race', async () => {
      const [a, b] = fresh().limiters;
      const decisions = await Promise.all(
        Array.from({ length: 40 }, (_, i) => (i % 2 === 0 ? a : b).attempt('shared', 10, 60_000)),
      );
      expect(decisions.filter((d) => d.allowed)).toHaveLength(10);
      expect(decisions.filter((d) => d.allowed).map((d) => d.remaining).sort()).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    });

    it('rejects a non-positive limit or window as a programming error', async () => {
      const [limiter] = fresh().limiters;
      await expect(limiter.attempt('k', 0, 1000)).rejects.toThrow(RangeError);
      await expect(limiter.attempt('k', 1, 0)).rejects.toThrow(RangeError);
      await expect(limiter.attempt('k', 1.5, 1000)).rejects.toThrow(RangeError);
      await expect(limiter.reserve('k', 1, 1000, -1)).rejects.toThrow(RangeError);
      await expect(limiter.reserve('k', 0, 1000, 0)).rejects.toThrow(RangeError);
    });

    it('forgets an attempt it was asked to give back, and only that one', async () => {
      const [a, b] = fresh().limiters;
      const first = await a.attempt('k', 2, 60_000);
      const second = await a.attempt('k', 2, 60_000);
      expect((await a.attempt('k', 2, 60_000)).allowed).toBe(false);
      await b.forget('k', second.attemptId as string);
      await b.forget('k', 'never-recorded');
      expect(await a.attempt('k', 2, 60_000)).toMatchObject({ allowed: true, remaining: 0 });
      expect((await a.attempt('k', 2, 60_000)).allowed).toBe(false);
      expect(first.attemptId).not.toBe(second.attemptId);
    });
  });

  describe('first-come, first-served reservations', () => {
    /** Expects `ms` to be `exact` on the fake clock, or no more than it and at most `slackMs` less on real time. */
    const near = (harness: Harness, ms: number, exact: number, slackMs: number): void => {
      if (harness.exactClock) expect(ms).toBe(exact);
      else {
        expect(ms).toBeLessThanOrEqual(exact);
        expect(ms).toBeGreaterThanOrEqual(exact - slackMs);
      }
    };

    it('gives a turn now while the window has room, then when the limit-th most recent turn leaves it', async () => {
      const harness = fresh();
      const [a, b] = harness.limiters;
      const started = harness.now();
      const waits: number[] = [];
      for (let i = 0; i < 5; i++) {
        const turn = await (i % 2 === 0 ? a : b).reserve('k', 2, 1000, 5000);
        if (!turn.granted) throw new Error(`turn ${i} was refused`);
        waits.push(turn.waitMs);
      }
      const slack = Math.ceil(harness.now() - started) + 5;
      [0, 0, 1000, 1000, 2000].forEach((expected, i) => near(harness, waits[i] as number, expected, slack));
    });

    it('refuses a turn beyond maxWaitMs with the exact wait and records nothing', async () => {
      const harness = fresh();
      const [limiter] = harness.limiters;
      const started = harness.now();
      for (let i = 0; i < 3; i++) expect((await limiter.reserve('k', 2, 1000, 5000)).granted).toBe(true);
      // The next turn would be when the second turn (now) leaves the window: 1000 ms.
      const refusals = [await limiter.reserve('k', 2, 1000, 500), await limiter.reserve('k', 2, 1000, 500)];
      const slack = Math.ceil(harness.now() - started) + 5;
      for (const refusal of refusals) {
        if (refusal.granted) throw new Error('a turn beyond maxWaitMs was granted');
        near(harness, refusal.retryAfterMs, 1000, slack);
      }
      // Had the refusals been recorded, this turn would come a window later.
      const next = await limiter.reserve('k', 2, 1000, 5000);
      if (!next.granted) throw new Error('unreachable');
      near(harness, next.waitMs, 1000, slack);
    });
  });

  describe('instance connect budget', () => {
    it('allows connectsPerMinute attempts per instance, then refuses with rate_limited and the seconds to wait', async () => {
      const harness = fresh();
      const budget = createInstanceConnectBudget({ limiter: harness.limiters[0], connectsPerMinute: 3 });
      for (let i = 0; i < 3; i++) await budget.take('lhins-abc123');
      await harness.advance(harness.exactClock ? 10_500 : 0);
      const error = await rejection(budget.take('lhins-abc123'));
      expect(error.code).toBe('rate_limited');
      expect(error.closeCode).toBe(4429);
      const expected = harness.exactClock ? 50 : 60;
      expect(error.retryAfterSeconds).toBe(expected);
      expect(error.message).toBe(
        `This instance had too many connection attempts in the last minute; try again in ${expected} s.`,
      );
      await budget.take('lhins-other');
    });

    it('refuses a per-minute rate above Tencent’s 30', () => {
      const [limiter] = fresh().limiters;
      expect(() => createInstanceConnectBudget({ limiter, connectsPerMinute: 31 })).toThrow(RangeError);
      expect(() => createInstanceConnectBudget({ limiter, connectsPerMinute: 0 })).toThrow(RangeError);
    });
  });

  describe('api budget', () => {
    it('waits for a slot that frees within maxWaitMs, then succeeds', async () => {
      const harness = fresh();
      const slept: number[] = [];
      const budget = createApiBudget({
        limiter: harness.limiters[0],
        requestsPerSecond: 2,
        maxWaitMs: 2000,
        safetyMarginMs: 0,
        sleep: async (ms) => {
          slept.push(ms);
          await harness.advance(ms);
        },
      });
      await budget.take();
      await harness.advance(300);
      await budget.take();
      const started = performance.now();
      await budget.take();
      const waited = slept.reduce((sum, ms) => sum + ms, 0);
      if (harness.exactClock) expect(slept).toEqual([700]);
      else {
        expect(waited).toBeGreaterThan(500);
        expect(waited).toBeLessThanOrEqual(2000);
        expect(performance.now() - started).toBeLessThan(2000);
      }
    });

    it('refuses with rate_limited without waiting when no slot frees within maxWaitMs', async () => {
      const harness = fresh();
      let slept = 0;
      const budget = createApiBudget({
        limiter: harness.limiters[0],
        requestsPerSecond: 2,
        maxWaitMs: 200,
        safetyMarginMs: 0,
        sleep: async (ms) => {
          slept += ms;
          await harness.advance(ms);
        },
      });
      await budget.take();
      await budget.take();
      const error = await rejection(budget.take());
      expect(error.code).toBe('rate_limited');
      expect(error.retryAfterSeconds).toBe(1);
      expect(slept).toBe(0);
    });

    it('counts over one second plus the safety margin, so late arrivals at Tencent stay within its second', async () => {
      const harness = fresh();
      const slept: number[] = [];
      let reservedAt = 0;
      const budget = createApiBudget({
        limiter: harness.limiters[0],
        requestsPerSecond: 2,
        maxWaitMs: 2000,
        sleep: async (ms) => {
          reservedAt = harness.now();
          slept.push(ms);
          await harness.advance(ms);
        },
      });
      const started = harness.now();
      await budget.take();
      await harness.advance(300);
      await budget.take();
      await budget.take();
      // Default margin 250 ms: the first slot frees 1250 ms after it was taken, ~300 ms before the third take.
      if (harness.exactClock) expect(slept).toEqual([950]);
      else {
        expect(slept).toHaveLength(1);
        expect(slept[0]).toBeLessThanOrEqual(1250 - 300);
        // Without the margin it would be at most 700.
        expect(slept[0]).toBeGreaterThanOrEqual(1250 - Math.ceil(reservedAt - started) - 5);
      }
    });

    it('serves callers in arrival order: a waiter keeps its turn against a newcomer arriving as the slot frees', async () => {
      const harness = fresh();
      const budget = createApiBudget({ limiter: harness.limiters[0], requestsPerSecond: 1, safetyMarginMs: 0, maxWaitMs: 2000, sleep: harness.sleep });
      const served: string[] = [];
      await budget.take();
      // The test's own timer is set before the waiter's: the newcomer comes the moment the slot frees.
      const slotFrees = harness.sleep(1000);
      const waiter = budget.take().then(() => served.push('waiter'));
      await slotFrees;
      const newcomer = budget.take().then(() => served.push('newcomer'));
      await within(Promise.all([waiter, newcomer]), 10_000, 'both callers to be served');
      expect(served).toEqual(['waiter', 'newcomer']);
    });

    it('refuses at once, with the wait its turn would need, a caller whose turn is beyond maxWaitMs', async () => {
      const harness = fresh();
      const budget = createApiBudget({ limiter: harness.limiters[0], requestsPerSecond: 2, safetyMarginMs: 0, maxWaitMs: 1500, sleep: harness.sleep });
      await budget.take();
      await budget.take();
      const started = harness.now();
      // Two more have turns a second from now; the fifth's would be two seconds away.
      const waiting = [budget.take(), budget.take()];
      const late = await rejection(budget.take());
      const refusedAfter = harness.now() - started;
      expect(late.code).toBe('rate_limited');
      expect(late.retryAfterSeconds).toBe(2);
      expect(late.message).toBe('The gateway is at its Tencent Cloud API limit; try again in 2 s.');
      if (harness.exactClock) expect(refusedAfter).toBe(0);
      else expect(refusedAfter).toBeLessThan(500);
      await within(Promise.all(waiting), 5000, 'the two earlier callers to be served');
    });

    it('never lets more than requestsPerSecond calls into any one second under a burst of concurrent takes from two replicas', async () => {
      const harness = fresh();
      const options = { requestsPerSecond: 3, maxWaitMs: 10_000, sleep: harness.sleep } as const;
      const replicas = [createApiBudget({ ...options, limiter: harness.limiters[0] }), createApiBudget({ ...options, limiter: harness.limiters[1] })];
      const servedAt: number[] = [];
      await within(
        Promise.all(Array.from({ length: 9 }, (_, i) => (replicas[i % 2] as ReturnType<typeof createApiBudget>).take().then(() => servedAt.push(harness.now())))),
        15_000,
        'every call to be served',
      );
      expect(servedAt).toHaveLength(9);
      // On real time, serving lags the turn by a little: the 250 ms margin covers it within one second.
      const windowMs = harness.exactClock ? 1250 : 1000;
      const busiest = Math.max(...servedAt.map((t) => servedAt.filter((u) => u >= t && u < t + windowMs).length));
      expect(busiest).toBe(3);
      if (harness.exactClock) expect([...new Set(servedAt)].map((t) => t - (servedAt[0] as number))).toEqual([0, 1250, 2500]);
    });

    it('shares one budget across replicas', async () => {
      const harness = fresh();
      const options = { requestsPerSecond: 3, maxWaitMs: 0 } as const;
      const a = createApiBudget({ ...options, limiter: harness.limiters[0] });
      const b = createApiBudget({ ...options, limiter: harness.limiters[1] });
      await a.take();
      await b.take();
      await a.take();
      expect((await rejection(b.take())).code).toBe('rate_limited');
    });

    it('refuses a per-second rate above Tencent’s 10', () => {
      const [limiter] = fresh().limiters;
      expect(() => createApiBudget({ limiter, requestsPerSecond: 11 })).toThrow(RangeError);
    });
  });

  describe('session store (concurrency leases and the live-session list)', () => {
    const TTL = 60_000;

    it('admits userLimit sessions of one user across replicas, then refuses with the wait until a lease would lapse', async () => {
      const harness = fresh();
      const [a, b] = harness.sessions;
      for (let i = 0; i < 3; i++) {
        const store = i % 2 === 0 ? a : b;
        expect(await store.admit({ record: sessionRecord({ instanceId: `lhins-u${i}` }), userLimit: 3, ttlMs: TTL })).toEqual({ admitted: true });
      }
      await harness.advance(harness.exactClock ? 5000 : 0);
      const refused = await b.admit({ record: sessionRecord({ instanceId: 'lhins-u9' }), userLimit: 3, ttlMs: TTL });
      expect(refused).toMatchObject({ admitted: false, scope: 'user-sessions' });
      if (refused.admitted) throw new Error('unreachable');
      if (harness.exactClock) expect(refused.retryAfterMs).toBe(TTL - 5000);
      else {
        expect(refused.retryAfterMs).toBeGreaterThan(TTL - 5000);
        expect(refused.retryAfterMs).toBeLessThanOrEqual(TTL);
      }
      // Another user is not affected.
      expect(await a.admit({ record: sessionRecord({ sub: 'bob' }), userLimit: 3, ttlMs: TTL })).toEqual({ admitted: true });
    });

    it('frees a slot when a session is released', async () => {
      const [a, b] = fresh().sessions;
      const first = sessionRecord();
      expect((await a.admit({ record: first, userLimit: 1, ttlMs: TTL })).admitted).toBe(true);
      expect((await b.admit({ record: sessionRecord(), userLimit: 1, ttlMs: TTL })).admitted).toBe(false);
      await b.release(first);
      expect((await b.admit({ record: sessionRecord(), userLimit: 1, ttlMs: TTL })).admitted).toBe(true);
    });

    it('lets exactly userLimit of 20 racing admissions through', async () => {
      const [a, b] = fresh().sessions;
      const results = await Promise.all(
        Array.from({ length: 20 }, (_, i) => (i % 2 === 0 ? a : b).admit({ record: sessionRecord({ sub: 'racer' }), userLimit: 3, ttlMs: TTL })),
      );
      expect(results.filter((r) => r.admitted)).toHaveLength(3);
    });

    it('keeps everyone else off an instance while an exclusive session is on it, and keeps an exclusive session off a busy one', async () => {
      const [a, b] = fresh().sessions;
      const exclusive = sessionRecord({ sub: 'support', instanceId: 'lhins-excl', maxInstanceSessions: 1 });
      expect((await a.admit({ record: exclusive, userLimit: 5, ttlMs: TTL })).admitted).toBe(true);
      const other = await b.admit({ record: sessionRecord({ sub: 'bob', instanceId: 'lhins-excl' }), userLimit: 5, ttlMs: TTL });
      expect(other).toMatchObject({ admitted: false, scope: 'instance-sessions' });
      // Other instances are unaffected; without a limit any number share one instance.
      for (let i = 0; i < 4; i++) {
        expect((await b.admit({ record: sessionRecord({ sub: `u${i}`, instanceId: 'lhins-shared' }), userLimit: 5, ttlMs: TTL })).admitted).toBe(true);
      }
      const late = await a.admit({ record: sessionRecord({ sub: 'support', instanceId: 'lhins-shared', maxInstanceSessions: 1 }), userLimit: 5, ttlMs: TTL });
      expect(late).toMatchObject({ admitted: false, scope: 'instance-sessions' });
      await a.release(exclusive);
      expect((await b.admit({ record: sessionRecord({ sub: 'bob', instanceId: 'lhins-excl' }), userLimit: 5, ttlMs: TTL })).admitted).toBe(true);
    });

    it('lists every replica’s sessions with what the heartbeat last reported, and gets one by id', async () => {
      const [a, b] = fresh().sessions;
      const one = sessionRecord({ replicaId: 'replica-a' });
      const two = sessionRecord({ sub: 'bob', email: 'bob@example.com', replicaId: 'replica-b', instanceId: 'ins-xyz' });
      await a.admit({ record: one, userLimit: 5, ttlMs: TTL });
      await b.admit({ record: two, userLimit: 5, ttlMs: TTL });
      await b.heartbeat([{ ...two, state: 'live', bytesFromClient: 12, bytesFromUpstream: 3400 }], TTL);
      const listed = await a.list();
      expect(listed.map((r) => r.sessionId).sort()).toEqual([one.sessionId, two.sessionId].sort());
      expect(listed.find((r) => r.sessionId === two.sessionId)).toEqual({ ...two, state: 'live', bytesFromClient: 12, bytesFromUpstream: 3400 });
      expect(await a.get(one.sessionId)).toEqual(one);
      expect(await a.get('no-such-session')).toBeUndefined();
      await a.release(one);
      expect((await b.list()).map((r) => r.sessionId)).toEqual([two.sessionId]);
    });

    it('forgets a session whose heartbeat lapsed, freeing its slot, while a renewed one stays', async () => {
      const harness = fresh();
      const [a, b] = harness.sessions;
      const ttlMs = 400;
      const dead = sessionRecord({ sub: 'dead' });
      const alive = sessionRecord({ sub: 'alive' });
      await a.admit({ record: dead, userLimit: 1, ttlMs });
      await b.admit({ record: alive, userLimit: 1, ttlMs });
      await harness.advance(250);
      await b.heartbeat([alive], ttlMs);
      await harness.advance(250);
      expect((await a.list()).map((r) => r.sessionId)).toEqual([alive.sessionId]);
      expect(await b.get(dead.sessionId)).toBeUndefined();
      expect((await a.admit({ record: sessionRecord({ sub: 'dead' }), userLimit: 1, ttlMs })).admitted).toBe(true);
      expect((await a.admit({ record: sessionRecord({ sub: 'alive' }), userLimit: 1, ttlMs })).admitted).toBe(false);
    });

    it('takes a lost lease again on the next heartbeat, so a store that restarted empty relearns live sessions', async () => {
      const [a, b] = fresh().sessions;
      const record = sessionRecord({ sub: 'carol', state: 'live' });
      await b.heartbeat([record], TTL);
      expect(await a.get(record.sessionId)).toEqual(record);
      expect((await a.admit({ record: sessionRecord({ sub: 'carol' }), userLimit: 1, ttlMs: TTL })).admitted).toBe(false);
    });

    it('rejects a non-positive limit or ttl as a programming error', async () => {
      const [store] = fresh().sessions;
      await expect(store.admit({ record: sessionRecord(), userLimit: 0, ttlMs: TTL })).rejects.toThrow(RangeError);
      await expect(store.admit({ record: sessionRecord(), userLimit: 1, ttlMs: 0 })).rejects.toThrow(RangeError);
      await expect(store.admit({ record: sessionRecord({ maxInstanceSessions: 0 }), userLimit: 1, ttlMs: TTL })).rejects.toThrow(RangeError);
    });
  });
});

// After the contract suite, on the same cluster: it stops one master and starts it again.
describe('the gateway’s Cluster client when a master goes down', () => {
  let client: Cluster;
  let bus: TerminationBus | undefined;
  const keyPrefix = `test:cluster-outage:${randomUUID()}:`;
  beforeAll(async () => {
    await cluster.setup?.();
    client = cluster.cluster().connect('vnc-gateway-test-outage');
  }, 60_000);
  afterAll(async () => {
    await bus?.close();
    client?.disconnect();
  });

  /** The port of the master serving `key`'s slot. */
  async function masterOf(key: string): Promise<number> {
    const slot = Number(await client.cluster('KEYSLOT', key));
    const ranges = (await client.cluster('SLOTS')) as unknown as [number, number, [string, number]][];
    const range = ranges.find(([from, to]) => slot >= from && slot <= to);
    if (range === undefined) throw new Error(`no master serves slot ${slot}`);
    return range[2][1];
  }

  /** Resolves to the code the operation was refused with, failing if it answers or hangs past `ms`. */
  async function refusedWithin(operation: Promise<unknown>, ms: number): Promise<string> {
    const outcome = await within(operation.then(() => 'answered', (error: unknown) => (error instanceof GatewayError ? error.code : String(error))), ms, 'a refusal');
    return outcome;
  }

  it('carries terminate requests on its pub/sub duplicate, refuses what needs the stopped master with state_unavailable, and recovers when it is back', async () => {
    const received: string[] = [];
    bus = createRedisTerminationBus({ redis: client, channel: `${keyPrefix}session-terminate`, onRequest: (request) => received.push(request.sessionId), logger: createLogger({ level: 'silent' }) });
    const terminate = (sessionId: string): TerminateRequest => ({ sessionId, by: { sub: 'root' }, gatewayRequestId: 'r', clientIp: '192.0.2.9' });
    // The subscription is made in the background: publish until it is heard.
    await eventuallyAsync(async () => {
      await (bus as TerminationBus).publish(terminate('before'));
      return received.includes('before');
    }, 10_000, 'a terminate request to be heard');

    const limiter = createRedisLimiter({ redis: client, keyPrefix: `${keyPrefix}limit:` });
    const sessions = createRedisSessionStore({ redis: client, keyPrefix });
    // Every session key shares the {sessions} tag: stop the master that holds them.
    const victim = await masterOf(`${keyPrefix}{sessions}`);
    const keys = Array.from({ length: 60 }, (_, i) => `instance-connects:lhins-${i}`);
    const owners = await Promise.all(keys.map((key) => masterOf(`${keyPrefix}limit:{${key}}`)));
    const onVictim = keys[owners.indexOf(victim)] as string;
    const elsewhere = keys[owners.findIndex((port) => port !== victim)] as string;
    expect((await limiter.attempt(onVictim, 5, 60_000)).allowed).toBe(true);
    expect((await sessions.admit({ record: sessionRecord({ sub: 'olga' }), userLimit: 5, ttlMs: 60_000 })).admitted).toBe(true);

    const node = cluster.cluster().nodes[cluster.cluster().ports.indexOf(victim)] as ThrowawayCluster['nodes'][number];
    // A master that stops answering without closing its sockets (a partition): the command timeout ends the wait.
    node.freeze();
    try {
      expect(await refusedWithin(limiter.attempt(onVictim, 5, 60_000), 6000)).toBe('state_unavailable');
      expect(await refusedWithin(sessions.list(), 6000)).toBe('state_unavailable');
    } finally {
      node.thaw();
    }
    await eventuallyAsync(async () => (await limiter.attempt(onVictim, 5, 60_000).catch(() => undefined))?.allowed === true, 20_000, 'the thawed master to serve again');

    // A master that is gone (connections refused).
    await node.shutdown();
    try {
      // Refused, not queued or hung: the command timeout is 2 s.
      expect(await refusedWithin(limiter.attempt(onVictim, 5, 60_000), 6000)).toBe('state_unavailable');
      expect(await refusedWithin(limiter.reserve(onVictim, 5, 60_000, 0), 6000)).toBe('state_unavailable');
      expect(await refusedWithin(sessions.admit({ record: sessionRecord({ sub: 'olga' }), userLimit: 5, ttlMs: 60_000 }), 6000)).toBe('state_unavailable');
      expect(await refusedWithin(sessions.list(), 6000)).toBe('state_unavailable');
      // Keys on the other masters are still served (until the cluster itself declares failure).
      expect((await limiter.attempt(elsewhere, 5, 60_000)).allowed).toBe(true);
    } finally {
      await node.start();
    }

    // The same client, no restart: the master is back (empty: no persistence) and serves again.
    await eventuallyAsync(async () => (await limiter.attempt(onVictim, 5, 60_000).catch(() => undefined))?.allowed === true, 20_000, 'the master to serve again');
    expect((await sessions.admit({ record: sessionRecord({ sub: 'olga' }), userLimit: 5, ttlMs: 60_000 })).admitted).toBe(true);
    await eventuallyAsync(async () => {
      await (bus as TerminationBus).publish(terminate('after')).catch(() => undefined);
      return received.includes('after');
    }, 20_000, 'a terminate request to be heard after the outage');
  }, 90_000);
});

/** Polls an async `condition` every 200 ms until it holds, at most `ms`. */
async function eventuallyAsync(condition: () => Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = performance.now() + ms;
  while (!(await condition())) {
    if (performance.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await delay(200);
  }
}
