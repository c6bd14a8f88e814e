// Builds the ioredis client every shared store uses, tuned to fail fast while Redis is away
// (so callers refuse with state_unavailable) and to reconnect by itself forever.

import { isIP } from 'node:net';
import type { ConnectionOptions } from 'node:tls';
import { Redis } from 'ioredis';
import type { Cluster, RedisOptions } from 'ioredis';

/** Receives connection state changes; `detail` never holds a password or the full URL. */
export type RedisLogger = (event: string, detail: object) => void;

/** Options for {@link createRedisClient}. */
export interface RedisClientOptions {
  /** Shown in `CLIENT LIST` and in log details (e.g. `vnc-gateway:limits`). */
  name?: string;
  /** Called on connection state changes: `redis.ready`, `redis.down`, `redis.error`, `redis.end`. */
  logger?: RedisLogger;
  /** Bound on one TCP (+TLS) connect attempt. Default 3000. */
  connectTimeoutMs?: number;
  /**
   * Bound on one command's reply, so a Redis that stops answering without closing the socket
   * (a network partition) cannot hang a caller. Default 2000. Pass 0 to disable it for a
   * client that issues blocking commands (XREAD BLOCK, BLPOP) longer than that.
   */
  commandTimeoutMs?: number;
  /** Upper bound of the reconnect backoff. Default 2000. */
  maxReconnectDelayMs?: number;
  /**
   * Extra TLS options for `rediss://` (e.g. `ca` for a private CA in tests). In production
   * prefer `NODE_EXTRA_CA_CERTS`; verification is never turned off here.
   */
  tls?: ConnectionOptions;
}

/** Either kind of ioredis client the stores accept. */
export type RedisConnection = Redis | Cluster;

/**
 * Creates an ioredis client for `url` (`redis://` or `rediss://`, with optional user,
 * password and `/db`). Commands issued during the first connect attempt wait for it (so
 * startup needs no ordering; if it fails they are rejected after one quick retry); after it,
 * commands issued while disconnected are rejected at once instead of queued, and in-flight
 * ones are rejected after one reconnect attempt or `commandTimeoutMs`. Reconnects forever
 * with a capped backoff. Throws TypeError for a URL that is not a Redis URL.
 */
export function createRedisClient(url: string, options: RedisClientOptions = {}): Redis {
  const parsed = parseRedisUrl(url);
  const name = options.name ?? 'vnc-gateway';
  const connectTimeoutMs = positive(options.connectTimeoutMs ?? 3000, 'connectTimeoutMs');
  const commandTimeoutMs = options.commandTimeoutMs ?? 2000;
  const maxReconnectDelayMs = positive(options.maxReconnectDelayMs ?? 2000, 'maxReconnectDelayMs');
  const log = options.logger ?? (() => {});
  // Safe to log: no credentials, no query string.
  const where = { name, host: parsed.hostname, port: parsed.port, db: parsed.db, tls: parsed.tls };

  const redisOptions: RedisOptions = {
    host: parsed.hostname,
    port: parsed.port,
    db: parsed.db,
    ...(parsed.username === undefined ? {} : { username: parsed.username }),
    ...(parsed.password === undefined ? {} : { password: parsed.password }),
    ...(parsed.tls
      ? {
          tls: {
            // SNI for managed Redis behind a TLS proxy; Node sends none for a bare IP.
            ...(isIP(parsed.hostname) === 0 ? { servername: parsed.hostname } : {}),
            ...options.tls,
          },
        }
      : {}),
    connectionName: name,
    connectTimeout: connectTimeoutMs,
    ...(commandTimeoutMs > 0 ? { commandTimeout: commandTimeoutMs } : {}),
    keepAlive: 10_000,
    // One retry per command: a command waits through at most one reconnect attempt, then fails.
    maxRetriesPerRequest: 1,
    // Queue only during the very first connect attempt (startup ordering); switched off as
    // soon as that attempt succeeds or fails, so later commands fail at once while down.
    enableOfflineQueue: true,
    enableReadyCheck: true,
    // Exponential, capped, with jitter so replicas do not reconnect in lockstep; never gives up.
    retryStrategy: (attempt: number) => {
      const base = Math.min(maxReconnectDelayMs, 50 * 2 ** Math.min(attempt, 16));
      return Math.max(10, Math.round(base / 2 + (Math.random() * base) / 2));
    },
    // After a failover the old primary answers READONLY; reconnecting finds the new one.
    reconnectOnError: (err: Error) => err.message.startsWith('READONLY'),
  };

  const redis = new Redis(redisOptions);

  let up = false;
  let lastError: string | undefined;
  redis.on('ready', () => {
    redis.options.enableOfflineQueue = false;
    up = true;
    lastError = undefined;
    log('redis.ready', where);
  });
  redis.on('close', () => {
    redis.options.enableOfflineQueue = false;
    if (up) {
      up = false;
      log('redis.down', where);
    }
  });
  // Without a listener ioredis errors would be unhandled 'error' events and end the process.
  redis.on('error', (err: unknown) => {
    const message = err instanceof Error ? err.message : String(err);
    // Every reconnect attempt repeats the same error; log it once per change.
    if (message !== lastError) {
      lastError = message;
      log('redis.error', { ...where, error: redactUrls(message) });
    }
  });
  redis.on('end', () => log('redis.end', where));
  return redis;
}

/** Readiness of a client: `'ready'` only while connected and past the ready check. */
export function redisHealth(redis: RedisConnection): 'ready' | 'down' {
  return redis.status === 'ready' ? 'ready' : 'down';
}

interface ParsedRedisUrl {
  hostname: string;
  port: number;
  db: number;
  tls: boolean;
  username: string | undefined;
  password: string | undefined;
}

function parseRedisUrl(url: string): ParsedRedisUrl {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    // The message must not echo the URL: it may hold a password.
    throw new TypeError('REDIS_URL is not a valid URL (expected redis://[user:password@]host[:port][/db] or rediss://…).');
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new TypeError(`REDIS_URL must use redis:// or rediss://, not ${parsed.protocol}//.`);
  }
  const dbText = parsed.pathname.replace(/^\//, '');
  const db = dbText === '' ? 0 : Number(dbText);
  if (!Number.isInteger(db) || db < 0) {
    throw new TypeError('REDIS_URL database (the path after the host) must be a non-negative integer.');
  }
  const hostname = parsed.hostname.replace(/^\[|\]$/g, '');
  return {
    hostname: hostname === '' ? '127.0.0.1' : hostname,
    port: parsed.port === '' ? 6379 : Number(parsed.port),
    db,
    tls: parsed.protocol === 'rediss:',
    username: parsed.username === '' ? undefined : decodeURIComponent(parsed.username),
    password: parsed.password === '' ? undefined : decodeURIComponent(parsed.password),
  };
}

function positive(value: number, what: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${what} must be a positive number.`);
  return value;
}

// Belt and braces: should an error message ever quote a Redis URL, drop its credentials.
function redactUrls(text: string): string {
  return text.replace(/(rediss?:\/\/)[^@\s/]*@/gi, '$1***@');
}
