// Sentinel and Cluster deployments of the shared Redis: the ioredis clients for them, tuned
// like redis-client.ts (fail fast while Redis is away so callers refuse with state_unavailable,
// reconnect by itself forever). Standalone Redis stays REDIS_URL and redis-client.ts.

import { isIP } from 'node:net';
import { Cluster, Redis } from 'ioredis';
import type { ClusterOptions, RedisOptions } from 'ioredis';
import { createRedisClient, type RedisConnection, type RedisLogger } from './redis-client.js';
import type { RedisTopology } from './redis-topology-config.js';

export type { RedisTopology } from './redis-topology-config.js';

/** Options for {@link createRedisConnection}. */
export interface RedisConnectionOptions {
  name?: string;
  logger?: RedisLogger;
  connectTimeoutMs?: number;
  commandTimeoutMs?: number;
  maxReconnectDelayMs?: number;
}

/**
 * The client for REDIS_URL (redis-client.ts), a Sentinel-managed master or a Cluster, all with
 * the same failure behaviour: commands fail at once while Redis is down (after the first
 * connect attempt), each in-flight one within `commandTimeoutMs`, and the client reconnects
 * by itself forever with a capped, jittered backoff.
 */
export function createRedisConnection(target: { url: string } | RedisTopology, options: RedisConnectionOptions = {}): RedisConnection {
  if ('url' in target) return createRedisClient(target.url, options);
  const name = options.name ?? 'vnc-gateway';
  const log = options.logger ?? (() => {});
  const maxReconnectDelayMs = options.maxReconnectDelayMs ?? 2000;
  const retry = (attempt: number): number => {
    const base = Math.min(maxReconnectDelayMs, 50 * 2 ** Math.min(attempt, 16));
    return Math.max(10, Math.round(base / 2 + (Math.random() * base) / 2));
  };
  const common: RedisOptions = {
    ...(target.username === undefined ? {} : { username: target.username }),
    ...(target.password === undefined ? {} : { password: target.password }),
    connectionName: name,
    connectTimeout: options.connectTimeoutMs ?? 3000,
    ...((options.commandTimeoutMs ?? 2000) > 0 ? { commandTimeout: options.commandTimeoutMs ?? 2000 } : {}),
    keepAlive: 10_000,
    maxRetriesPerRequest: 1,
    enableOfflineQueue: true,
    enableReadyCheck: true,
    retryStrategy: retry,
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
  };
  // Safe to log: no credentials.
  let where: object;
  let client: RedisConnection;
  if (target.kind === 'sentinel') {
    where = { name, sentinels: target.sentinels.map((s) => `${s.host}:${s.port}`), master: target.name, tls: target.tls };
    client = new Redis({
      ...common,
      sentinels: target.sentinels.map((s) => ({ host: s.host, port: s.port })),
      name: target.name,
      ...(target.sentinelPassword === undefined ? {} : { sentinelPassword: target.sentinelPassword }),
      ...(target.tls ? { tls: {}, enableTLSForSentinelMode: true, sentinelTLS: {} } : {}),
      sentinelRetryStrategy: retry,
    });
  } else {
    where = { name, nodes: target.nodes.map((n) => `${n.host}:${n.port}`), tls: target.tls };
    const clusterOptions: ClusterOptions = {
      redisOptions: { ...common, ...(target.tls ? { tls: {} } : {}) },
      enableOfflineQueue: true,
      enableReadyCheck: true,
      clusterRetryStrategy: retry,
      slotsRefreshTimeout: 2000,
      // With TLS, certificates name the hosts the cluster announces; keep them as given.
      ...(target.tls ? { dnsLookup: (address: string, callback: (err: null, address: string) => void) => callback(null, address) } : {}),
    };
    client = new Cluster(target.nodes.map((n) => ({ host: n.host, port: n.port, ...(target.tls && isIP(n.host) === 0 ? { tls: { servername: n.host } } : {}) })), clusterOptions);
  }
  let up = false;
  let lastError: string | undefined;
  client.on('ready', () => {
    client.options.enableOfflineQueue = false;
    up = true;
    lastError = undefined;
    log('redis.ready', where);
  });
  client.on('close', () => {
    client.options.enableOfflineQueue = false;
    if (up) {
      up = false;
      log('redis.down', where);
    }
  });
  client.on('error', (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    if (message !== lastError) {
      lastError = message;
      log('redis.error', { ...where, error: message });
    }
  });
  client.on('end', () => log('redis.end', where));
  return client;
}
