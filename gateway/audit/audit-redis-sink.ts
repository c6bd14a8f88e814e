// The audit trail in a Redis Stream (AUDIT_REDIS_STREAM), shared by every replica. One chain
// for the whole fleet: a Lua script appends a batch only if the chain's head is the one the
// batch was linked to (compare-and-append), so concurrent replicas never fork the chain. The
// head (last hash, its entry id, records ever appended) lives in its own key, updated by the
// same script: deleting the newest entries cannot be papered over by the next append, and
// `audit verify` compares the stream's end with it. Retention by length (MAXLEN ~) and/or age
// (MINID ~); both keep the newest entries, so the head's entry is never trimmed.

import type { AuditRecord } from './audit-events.js';
import { GENESIS_HASH, linkRecord } from './audit-chain.js';
import type { ChainedSink } from './audit-log.js';
import { createBatchWriter } from './batch-writer.js';
import type { RedisConnection } from '../state/redis-client.js';

export interface RedisStreamSinkOptions {
  redis: RedisConnection;
  /** The stream key, used as given. */
  key: string;
  /** Keep about this many entries (0 = no length limit). */
  maxLen: number;
  /** Drop entries older than this (0 = no age limit). */
  maxAgeMs: number;
  log?: (level: 'info' | 'warn' | 'error', detail: object, message: string) => void;
  now?: () => number;
  /** Largest batch per round trip. Default 128. */
  maxBatchRecords?: number;
  /** After a failed write, try again after this long. Default 500. */
  retryMs?: number;
  /**
   * Records kept in memory while Redis is away or slow. When the backlog is full the sink
   * reports itself unhealthy (so new sessions are refused unless AUDIT_ON_FAILURE=continue)
   * and records arriving meanwhile are dropped (the backlog already queued stays in order),
   * logged and counted (`dropped()`, vnc_gateway_audit_records_dropped_total). Default 100000.
   */
  maxPendingRecords?: number;
}

// KEYS[1]: the stream, KEYS[2]: its head (a hash: `hash`, `id`, `seq`). ARGV: expected head
// hash, genesis hash, maxLen, minId ('' = none), then hash, line pairs. Each entry has fields
// `hash` and `record` (the chained JSON line). Returns {1} when appended, or {0, actualHead}
// when another writer moved the head.
const APPEND_LUA = `
local stored = redis.call('HMGET', KEYS[2], 'hash', 'id')
local head = stored[1]
if not head then
  -- A stream written before the head key existed (or a new one): continue from its newest entry.
  head = ARGV[2]
  local last = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
  if #last > 0 then
    local fields = last[1][2]
    for i = 1, #fields, 2 do
      if fields[i] == 'hash' then head = fields[i + 1] end
    end
  end
  redis.call('HSET', KEYS[2], 'seq', redis.call('XLEN', KEYS[1]))
end
if head ~= ARGV[1] then return {0, head} end
local id
for i = 5, #ARGV, 2 do
  id = redis.call('XADD', KEYS[1], '*', 'hash', ARGV[i], 'record', ARGV[i + 1])
end
redis.call('HSET', KEYS[2], 'hash', ARGV[#ARGV - 1], 'id', id)
redis.call('HINCRBY', KEYS[2], 'seq', (#ARGV - 4) / 2)
local maxLen = tonumber(ARGV[3])
if maxLen > 0 then redis.call('XTRIM', KEYS[1], 'MAXLEN', '~', maxLen) end
if ARGV[4] ~= '' then redis.call('XTRIM', KEYS[1], 'MINID', '~', ARGV[4]) end
return {1}
`;

/**
 * The key holding the chain head of stream `key`, in the same Cluster slot: the stream key
 * with `:head` appended when it has a `{hash tag}`, else the whole key as the tag (Redis hashes
 * a key without a tag whole, so `{key}` hashes the same).
 */
export function streamHeadKey(key: string): string {
  const open = key.indexOf('{');
  const close = open === -1 ? -1 : key.indexOf('}', open + 1);
  if (open !== -1 && close > open + 1) return `${key}:head`;
  if (!key.includes('}')) return `{${key}}:head`;
  throw new RangeError(`AUDIT_REDIS_STREAM ${JSON.stringify(key)} holds a '}' outside a {hash tag}: its head key could not share its Cluster slot; use a key like {audit}:stream`);
}

/** The stored head of a stream's chain; undefined when the head key does not exist. */
export async function readStreamHead(redis: RedisConnection, key: string): Promise<{ hash: string; id: string; seq: number } | undefined> {
  const fields = await redis.hgetall(streamHeadKey(key));
  if (fields.hash === undefined || fields.id === undefined) return undefined;
  return { hash: fields.hash, id: fields.id, seq: Number(fields.seq ?? 0) };
}

const COMMAND = 'vncgwAuditAppend';
type AppendCommand = (stream: string, head: string, ...args: string[]) => Promise<[number, string?]>;

/** A sink appending to a Redis stream; records wait in memory (bounded) while Redis is away. */
export function createRedisStreamSink(options: RedisStreamSinkOptions): ChainedSink {
  const { redis, key } = options;
  const headKey = streamHeadKey(key);
  const log = options.log ?? (() => undefined);
  const now = options.now ?? Date.now;
  const maxBatch = options.maxBatchRecords ?? 128;
  const retryMs = options.retryMs ?? 500;
  const maxPending = options.maxPendingRecords ?? 100_000;
  const commands = redis as unknown as Record<string, AppendCommand | undefined>;
  if (typeof commands[COMMAND] !== 'function') redis.defineCommand(COMMAND, { numberOfKeys: 2, lua: APPEND_LUA });
  const run = (...args: string[]): Promise<[number, string?]> => (commands[COMMAND] as AppendCommand).call(redis, key, headKey, ...args);

  // Until the first connection is up, writes wait in ioredis' startup queue: not a failure yet.
  let wasReady = redis.status === 'ready';
  redis.once('ready', () => void (wasReady = true));

  // The stream's head as this replica last saw it; a stale guess costs one retry, never a fork.
  let head: string = GENESIS_HASH;
  const appendBatch = async (batch: readonly AuditRecord[]): Promise<void> => {
    // Another replica may have appended since; relink and retry a few times.
    for (let attempt = 0; attempt < 20; attempt++) {
      const args: string[] = [];
      let prev = head;
      for (const record of batch) {
        const linked = linkRecord(record, prev);
        prev = linked.record.hash;
        args.push(prev, linked.line);
      }
      const minId = options.maxAgeMs > 0 ? String(Math.max(0, now() - options.maxAgeMs)) : '';
      const [ok, actual] = await run(head, GENESIS_HASH, String(options.maxLen), minId, ...args);
      if (ok === 1) {
        head = prev;
        return;
      }
      head = actual ?? GENESIS_HASH;
    }
    throw new Error('the audit stream head kept moving (too many concurrent writers)');
  };

  const writer = createBatchWriter<AuditRecord>({
    write: appendBatch,
    maxBatch,
    delayMs: 5,
    retryMs,
    onFailure: (error, pending) => log('error', { key, err: error, pending }, 'audit stream write failed; new sessions are refused unless AUDIT_ON_FAILURE=continue'),
    onRecovery: () => log('info', { key }, 'audit stream writable again'),
  });

  let dropped = 0;
  let droppedInRun = 0;
  const sink: ChainedSink = {
    name: 'redisStream',
    append(record) {
      if (writer.pending.length >= maxPending) {
        // Memory stays bounded, at the cost of a hole in the trail: the sink is unhealthy
        // meanwhile, so new sessions are refused; live sessions' and refusals' records still come.
        dropped++;
        if (droppedInRun++ === 0) {
          log('error', { key, droppedId: record.id, maxPendingRecords: maxPending }, 'audit stream backlog full: records are dropped until Redis takes writes again');
        }
        return;
      }
      if (droppedInRun > 0) {
        log('error', { key, dropped: droppedInRun }, 'audit stream backlog has room again; records were dropped while it was full');
        droppedInRun = 0;
      }
      writer.push(record);
    },
    healthy: () =>
      writer.pending.length < maxPending &&
      !writer.failed &&
      (redis.status === 'ready' || (!wasReady && (redis.status === 'wait' || redis.status === 'connecting' || redis.status === 'connect'))),
    dropped: () => dropped,
    flush: () => writer.flush(`audit stream ${key}`),
    reopen: async () => undefined,
    async close() {
      try {
        await sink.flush();
      } catch (error) {
        log('error', { key, err: error, lost: writer.pending.length }, 'audit records could not be written before closing');
      } finally {
        writer.stop();
      }
    },
  };
  return sink;
}
