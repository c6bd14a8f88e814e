// Carries an admin's "end this session" from the replica that took the DELETE to the replica
// running the session: Redis pub/sub on one channel, each replica acting on its own sessions.

import { Cluster } from 'ioredis';
import type { Logger } from '../logger.js';
import { callRedis } from '../state/redis-call.js';
import type { RedisConnection } from '../state/redis-client.js';
import type { TerminateRequest } from './fleet-sessions.js';

/** Options for {@link createRedisTerminationBus}. */
export interface RedisTerminationBusOptions {
  redis: RedisConnection;
  /** The channel, e.g. `vnc-gateway:session-terminate`. */
  channel: string;
  /** Called for every request that arrives (including this replica's own). */
  onRequest: (request: TerminateRequest) => void;
  logger: Logger;
}

/** The bus: `publish` to every replica, `close` the subscription. */
export interface TerminationBus {
  publish(request: TerminateRequest): Promise<void>;
  close(): Promise<void>;
}

/**
 * Subscribes on a dedicated connection (a subscribed connection can issue nothing else);
 * ioredis re-subscribes by itself after a reconnect. A publish while Redis is down rejects
 * with state_unavailable. Malformed messages are ignored.
 */
export function createRedisTerminationBus(options: RedisTerminationBusOptions): TerminationBus {
  const { redis, channel, logger } = options;
  // The offline queue stays on for this connection only: the SUBSCRIBE issued now must wait
  // for the connection rather than fail, and ioredis re-subscribes after every reconnect.
  const subscriber = redis instanceof Cluster ? redis.duplicate(undefined, { enableOfflineQueue: true }) : redis.duplicate({ enableOfflineQueue: true });
  subscriber.on('error', () => undefined);
  subscriber.on('message', (from: string, message: string) => {
    if (from !== channel) return;
    const request = parse(message);
    if (request === undefined) {
      logger.warn({ channel }, 'ignored a malformed session terminate message');
      return;
    }
    options.onRequest(request);
  });
  subscriber.subscribe(channel).catch((error: unknown) => logger.warn({ err: error, channel }, 'could not subscribe to session terminate requests yet; retrying on reconnect'));

  return {
    async publish(request: TerminateRequest): Promise<void> {
      await callRedis(() => redis.publish(channel, JSON.stringify(request)));
    },
    async close(): Promise<void> {
      await subscriber.quit().catch(() => subscriber.disconnect());
    },
  };
}

function parse(message: string): TerminateRequest | undefined {
  try {
    const value = JSON.parse(message) as Partial<TerminateRequest>;
    if (typeof value.sessionId !== 'string' || typeof value.gatewayRequestId !== 'string' || typeof value.clientIp !== 'string') return undefined;
    if (typeof value.by !== 'object' || value.by === null || typeof value.by.sub !== 'string') return undefined;
    return { sessionId: value.sessionId, gatewayRequestId: value.gatewayRequestId, clientIp: value.clientIp, by: value.by.email ? { sub: value.by.sub, email: value.by.email } : { sub: value.by.sub } };
  } catch {
    return undefined;
  }
}
