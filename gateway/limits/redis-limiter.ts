// The fleet-wide sliding-window limiter: one Lua script per attempt, timed by the Redis
// server's clock, so every replica counts against the same window whatever its own clock says.

import { randomUUID } from 'node:crypto';
import { callRedis } from '../state/redis-call.js';
import type { RedisConnection } from '../state/redis-client.js';
import { checkLimitArguments, checkReserveArguments } from './check-limit-arguments.js';
import type { LimitDecision, Reservation, SlidingWindowLimiter } from './limiter.js';

/** Options for {@link createRedisLimiter}. */
export interface RedisLimiterOptions {
  redis: RedisConnection;
  /** Namespace for this limiter's keys, e.g. `vncgw:limit:`. */
  keyPrefix: string;
}

// KEYS[1]: the sorted set of this key's attempts (score = server time in µs).
// ARGV: limit, windowMs, a unique member for this attempt.
// Returns {allowed 0|1, remaining, retryAfterMs}.
const SLIDING_WINDOW_LUA = `
local limit = tonumber(ARGV[1])
local windowMs = tonumber(ARGV[2])
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
local windowUs = windowMs * 1000
-- An attempt exactly windowMs old has left the window.
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowUs - windowUs)
local count = redis.call('ZCARD', KEYS[1])
if count < limit then
  redis.call('ZADD', KEYS[1], nowUs, ARGV[3])
  redis.call('PEXPIRE', KEYS[1], windowMs)
  return {1, limit - count - 1, 0}
end
-- A slot frees when enough old attempts leave that fewer than limit remain: the oldest one
-- when count == limit, a later one if the limit was lowered since they were recorded.
local freeing = redis.call('ZRANGE', KEYS[1], count - limit, count - limit, 'WITHSCORES')
local retryMs = math.ceil((tonumber(freeing[2]) + windowUs - nowUs) / 1000)
if retryMs < 1 then retryMs = 1 end
return {0, 0, retryMs}
`;

// KEYS[1]: the sorted set of this key's turns (score = server time in µs of the turn, which
// may lie ahead of now). ARGV: limit, windowMs, maxWaitMs, a unique member for this turn.
// Returns {granted 0|1, waitMs | retryAfterMs}.
//
// The turn is now, or when the limit-th most recent turn leaves the window, whichever is later.
// Turns therefore never go backwards (first come, first served), and a window ending at any
// turn holds at most limit turns: the limit-th most recent one is at least windowMs earlier.
const RESERVE_LUA = `
local limit = tonumber(ARGV[1])
local windowUs = tonumber(ARGV[2]) * 1000
local maxWaitUs = tonumber(ARGV[3]) * 1000
local t = redis.call('TIME')
local nowUs = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', nowUs - windowUs)
local turnUs = nowUs
if redis.call('ZCARD', KEYS[1]) >= limit then
  local nth = redis.call('ZREVRANGE', KEYS[1], limit - 1, limit - 1, 'WITHSCORES')
  local freeUs = tonumber(nth[2]) + windowUs
  if freeUs > turnUs then turnUs = freeUs end
end
local waitMs = math.ceil((turnUs - nowUs) / 1000)
if (turnUs - nowUs) > maxWaitUs then
  return {0, waitMs}
end
redis.call('ZADD', KEYS[1], turnUs, ARGV[4])
redis.call('PEXPIRE', KEYS[1], waitMs + tonumber(ARGV[2]))
return {1, waitMs}
`;

const COMMAND = 'vncgwSlidingWindowAttempt';
const RESERVE_COMMAND = 'vncgwSlidingWindowReserve';

type SlidingWindowCommand = (key: string, limit: number, windowMs: number, member: string) => Promise<[number, number, number]>;
type ReserveCommand = (key: string, limit: number, windowMs: number, maxWaitMs: number, member: string) => Promise<[number, number]>;

/**
 * A {@link SlidingWindowLimiter} in Redis. Each attempt or reservation is one atomic script
 * (registered with `defineCommand`, so EVALSHA with a transparent EVAL fallback) over a sorted
 * set at `${keyPrefix}{${key}}`; the hash tag keeps the script's key in one Cluster slot. Any
 * Redis failure rejects with `GatewayError('state_unavailable')`.
 */
export function createRedisLimiter(options: RedisLimiterOptions): SlidingWindowLimiter {
  const { redis, keyPrefix } = options;
  const commands = redis as unknown as Record<string, SlidingWindowCommand | ReserveCommand | undefined>;
  if (typeof commands[COMMAND] !== 'function') redis.defineCommand(COMMAND, { numberOfKeys: 1, lua: SLIDING_WINDOW_LUA });
  if (typeof commands[RESERVE_COMMAND] !== 'function') redis.defineCommand(RESERVE_COMMAND, { numberOfKeys: 1, lua: RESERVE_LUA });
  const run = commands[COMMAND] as SlidingWindowCommand;
  const runReserve = commands[RESERVE_COMMAND] as ReserveCommand;
  const keyOf = (key: string): string => `${keyPrefix}{${key}}`;

  return {
    async attempt(key: string, limit: number, windowMs: number): Promise<LimitDecision> {
      checkLimitArguments(limit, windowMs);
      const attemptId = randomUUID();
      const [allowed, remaining, retryAfterMs] = await callRedis(() => run.call(redis, keyOf(key), limit, windowMs, attemptId));
      return allowed === 1 ? { allowed: true, remaining, retryAfterMs, attemptId } : { allowed: false, remaining, retryAfterMs };
    },

    async forget(key: string, attemptId: string): Promise<void> {
      await callRedis(() => redis.zrem(keyOf(key), attemptId));
    },

    async reserve(key: string, limit: number, windowMs: number, maxWaitMs: number): Promise<Reservation> {
      checkReserveArguments(limit, windowMs, maxWaitMs);
      const [granted, ms] = await callRedis(() => runReserve.call(redis, keyOf(key), limit, windowMs, maxWaitMs, randomUUID()));
      return granted === 1 ? { granted: true, waitMs: ms } : { granted: false, retryAfterMs: ms };
    },
  };
}
