// The fleet-wide session store: every admission, heartbeat, release and listing is one atomic
// Lua script timed by the Redis server's clock. All keys share the `{sessions}` hash tag, so
// each script touches one Cluster slot and a user's or an instance's concurrency is checked and
// taken in one step; the cost is that session bookkeeping (a few calls per session, not per
// frame) lives on one Cluster node while the rate limits spread over all of them.

import { callRedis } from '../state/redis-call.js';
import type { RedisConnection } from '../state/redis-client.js';
import { checkAdmitArguments, type AdmitRequest, type AdmitResult, type ConcurrencyScope, type SessionRecord, type SessionStore } from './session-store.js';

/** Options for {@link createRedisSessionStore}. */
export interface RedisSessionStoreOptions {
  redis: RedisConnection;
  /** Namespace for this store's keys, e.g. `vnc-gateway:`. */
  keyPrefix: string;
}

// Shared by every script. KEYS[1] data hash (id → record JSON), KEYS[2] expiry zset
// (id → lease expiry, server ms). Drops lapsed leases: a replica that died leaves no ghosts.
const PRELUDE = `
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local lapsed = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', now)
for _, gone in ipairs(lapsed) do redis.call('HDEL', KEYS[1], gone) end
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
-- Extends a key's life to at least ttl, never shortens it (replicas may differ in ttl).
local function keep(key, ttl)
  if redis.call('PTTL', key) < ttl then redis.call('PEXPIRE', key, ttl) end
end
`;

// KEYS[3] the user's lease zset, KEYS[4] the instance's. ARGV: id, userLimit, ttlMs, record JSON,
// the newcomer's instance limit (0 = none). Returns {1,'',0} or {0, scope, retryAfterMs}.
const ADMIT_LUA = `${PRELUDE}
local id, userLimit, ttl, limit = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[5])
redis.call('ZREMRANGEBYSCORE', KEYS[3], '-inf', now)
redis.call('ZREMRANGEBYSCORE', KEYS[4], '-inf', now)
local mine = redis.call('ZRANGE', KEYS[3], 0, -1, 'WITHSCORES')
local count = #mine / 2
if count >= userLimit then
  -- The lease whose lapse leaves userLimit - 1 behind.
  local freeing = tonumber(mine[(count - userLimit) * 2 + 2])
  return {0, 'user-sessions', math.max(1, freeing - now)}
end
local there = redis.call('ZRANGE', KEYS[4], 0, -1, 'WITHSCORES')
count = #there / 2
for i = 1, #there, 2 do
  local json = redis.call('HGET', KEYS[1], there[i])
  if json then
    local theirs = tonumber(cjson.decode(json).maxInstanceSessions or 0) or 0
    if theirs > 0 and (limit == 0 or theirs < limit) then limit = theirs end
  end
end
if limit > 0 and count >= limit then
  local freeing = tonumber(there[(count - limit) * 2 + 2])
  return {0, 'instance-sessions', math.max(1, freeing - now)}
end
local expiry = now + ttl
redis.call('HSET', KEYS[1], id, ARGV[4])
for k = 2, 4 do redis.call('ZADD', KEYS[k], expiry, id) end
for k = 1, 4 do keep(KEYS[k], ttl) end
return {1, '', 0}
`;

// KEYS[3..] pairs of (user zset, instance zset), one pair per session. ARGV: ttlMs, then
// (id, record JSON) per session. Upserts: a lease the store lost is taken again.
const HEARTBEAT_LUA = `${PRELUDE}
local ttl = tonumber(ARGV[1])
local expiry = now + ttl
local n = (#ARGV - 1) / 2
for i = 1, n do
  local id = ARGV[i * 2]
  redis.call('HSET', KEYS[1], id, ARGV[i * 2 + 1])
  redis.call('ZADD', KEYS[2], expiry, id)
  for _, key in ipairs({KEYS[i * 2 + 1], KEYS[i * 2 + 2]}) do
    redis.call('ZADD', key, expiry, id)
    keep(key, ttl)
  end
end
if n > 0 then keep(KEYS[1], ttl); keep(KEYS[2], ttl) end
return n
`;

// KEYS[3], KEYS[4] the session's user and instance zsets. ARGV: id.
const RELEASE_LUA = `${PRELUDE}
redis.call('HDEL', KEYS[1], ARGV[1])
for k = 2, 4 do redis.call('ZREM', KEYS[k], ARGV[1]) end
return 1
`;

// ARGV: a session id, or nothing for every session.
const READ_LUA = `${PRELUDE}
if ARGV[1] then
  local json = redis.call('HGET', KEYS[1], ARGV[1])
  if json then return {json} end
  return {}
end
return redis.call('HVALS', KEYS[1])
`;

type Reply = Promise<unknown>;
type ScriptCommand = (...args: (string | number)[]) => Reply;

const COMMANDS = {
  vncgwSessionAdmit: { numberOfKeys: 4, lua: ADMIT_LUA },
  vncgwSessionHeartbeat: { lua: HEARTBEAT_LUA },
  vncgwSessionRelease: { numberOfKeys: 4, lua: RELEASE_LUA },
  vncgwSessionRead: { numberOfKeys: 2, lua: READ_LUA },
} as const;

/**
 * A {@link SessionStore} in Redis (standalone, Sentinel or Cluster). Any Redis failure rejects
 * with `GatewayError('state_unavailable')`. Needs Redis ≥ 6.2.
 */
export function createRedisSessionStore(options: RedisSessionStoreOptions): SessionStore {
  const { redis, keyPrefix } = options;
  const commands = redis as unknown as Record<string, ScriptCommand | undefined>;
  for (const [name, definition] of Object.entries(COMMANDS)) {
    if (typeof commands[name] !== 'function') redis.defineCommand(name, definition);
  }
  const run = (name: keyof typeof COMMANDS, ...args: (string | number)[]): Reply =>
    callRedis(() => (commands[name] as ScriptCommand).call(redis, ...args));

  const base = `${keyPrefix}{sessions}`;
  const data = `${base}:data`;
  const expiry = `${base}:expiry`;
  const userKey = (sub: string): string => `${base}:user:${sub}`;
  const instanceKey = (instanceId: string): string => `${base}:instance:${instanceId}`;
  const parse = (json: unknown): SessionRecord => JSON.parse(String(json)) as SessionRecord;

  return {
    async admit(request: AdmitRequest): Promise<AdmitResult> {
      checkAdmitArguments(request);
      const { record } = request;
      const [admitted, scope, retryAfterMs] = (await run(
        'vncgwSessionAdmit',
        data, expiry, userKey(record.sub), instanceKey(record.instanceId),
        record.sessionId, request.userLimit, request.ttlMs, JSON.stringify(record), record.maxInstanceSessions ?? 0,
      )) as [number, string, number];
      return admitted === 1 ? { admitted: true } : { admitted: false, scope: scope as ConcurrencyScope, retryAfterMs };
    },

    async heartbeat(records: readonly SessionRecord[], ttlMs: number): Promise<void> {
      if (records.length === 0) return;
      const keys = records.flatMap((r) => [userKey(r.sub), instanceKey(r.instanceId)]);
      const args = records.flatMap((r) => [r.sessionId, JSON.stringify(r)]);
      // No fixed key count: the script takes two keys per session, so the count leads.
      await run('vncgwSessionHeartbeat', 2 + keys.length, data, expiry, ...keys, ttlMs, ...args);
    },

    async release(record): Promise<void> {
      await run('vncgwSessionRelease', data, expiry, userKey(record.sub), instanceKey(record.instanceId), record.sessionId);
    },

    async list(): Promise<SessionRecord[]> {
      const values = (await run('vncgwSessionRead', data, expiry)) as unknown[];
      return values.map(parse);
    },

    async get(sessionId: string): Promise<SessionRecord | undefined> {
      const values = (await run('vncgwSessionRead', data, expiry, sessionId)) as unknown[];
      return values.length === 0 ? undefined : parse(values[0]);
    },
  };
}
