// Single-use tickets in Redis: every replica sees a ticket, and exactly one can redeem it.

import { createHash } from 'node:crypto';
import type { TicketStore } from '../../auth/ticket-store.js';
import { GatewayError } from '../errors.js';
import { callRedis } from './redis-call.js';
import type { RedisConnection } from './redis-client.js';

/** Options for {@link createRedisTicketStore}. */
export interface RedisTicketStoreOptions {
  redis: RedisConnection;
  /** Namespace for this store's keys, e.g. `vncgw:ticket:`. */
  keyPrefix: string;
}

/**
 * A {@link TicketStore} in Redis. `save` is `SET … PX ttl NX` (a colliding ticket id is
 * refused rather than overwriting another user's ticket); `take` is `GETDEL`, one atomic
 * command, so of any number of concurrent takers on any replica exactly one gets the value.
 * Needs Redis ≥ 6.2 (GETDEL).
 */
export function createRedisTicketStore(options: RedisTicketStoreOptions): TicketStore {
  const { redis, keyPrefix } = options;
  // The ticket is a bearer secret; Redis keys show up in MONITOR, SLOWLOG and key scans,
  // so the key holds a digest of it. The braces are a Cluster hash tag.
  const redisKey = (key: string): string =>
    `${keyPrefix}{${createHash('sha256').update(key).digest('base64url')}}`;

  return {
    async save(key: string, value: string, ttlMs: number): Promise<void> {
      if (!Number.isInteger(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive integer.');
      const reply = await callRedis(() => redis.set(redisKey(key), value, 'PX', ttlMs, 'NX'));
      if (reply !== 'OK') {
        // Only a duplicate ticket id gets here: a random id should never collide, so a
        // collision is a bug worth failing loudly on rather than sharing a ticket.
        throw new GatewayError('internal', { cause: new Error('A ticket with this id already exists.') });
      }
    },

    async take(key: string): Promise<string | undefined> {
      const value = await callRedis(() => redis.getdel(redisKey(key)));
      return value ?? undefined;
    },
  };
}
