// Redis-only behaviour of the shared-state stores: outages refuse promptly with
// state_unavailable, the same client recovers by itself, TLS works, keys are laid out for Cluster.

import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster, type Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { GatewayError } from '../../../gateway/errors.js';
import { createFallbackLimiter, createFallbackState } from '../../../gateway/limits/local-fallback.js';
import { createMemoryLimiter } from '../../../gateway/limits/memory-limiter.js';
import { createRedisLimiter } from '../../../gateway/limits/redis-limiter.js';
import { createLogger } from '../../../gateway/logger.js';
import { createRedisClient, redisHealth } from '../../../gateway/state/redis-client.js';
import { createRedisTicketStore } from '../../../gateway/state/redis-ticket-store.js';
import { createThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.js';

const REDIS_URL = process.env['TEST_REDIS_URL'] ?? 'redis://127.0.0.1:6379';

/** Awaits `promise`, expecting state_unavailable within `withinMs`; returns how long it took. */
async function expectStateUnavailable(promise: Promise<unknown>, withinMs: number): Promise<number> {
  const started = performance.now();
  const outcome = await Promise.race([
    promise.then(
      () => ({ kind: 'resolved' as const }),
      (error: unknown) => ({ kind: 'rejected' as const, error }),
    ),
    delay(withinMs + 1000).then(() => ({ kind: 'hung' as const })),
  ]);
  const tookMs = performance.now() - started;
  expect(outcome.kind).toBe('rejected');
  if (outcome.kind === 'rejected') {
    expect(outcome.error).toBeInstanceOf(GatewayError);
    expect((outcome.error as GatewayError).code).toBe('state_unavailable');
    expect((outcome.error as GatewayError).cause).toBeDefined();
  }
  expect(tookMs).toBeLessThan(withinMs);
  return tookMs;
}

/** Polls until `check` holds, failing after `timeoutMs`. */
async function eventually(check: () => boolean, timeoutMs: number): Promise<void> {
  const deadline = performance.now() + timeoutMs;
  while (!check()) {
    if (performance.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await delay(20);
  }
}

function storesOn(redis: Redis) {
  const keyPrefix = `test:redis-state:${randomUUID()}:`;
  return {
    keyPrefix,
    limiter: createRedisLimiter({ redis, keyPrefix: `${keyPrefix}limit:` }),
    tickets: createRedisTicketStore({ redis, keyPrefix: `${keyPrefix}ticket:` }),
  };
}

describe('a Redis that cannot be reached', () => {
  it('makes attempt, save and take reject with state_unavailable within a few seconds', async () => {
    const redis = createRedisClient('redis://127.0.0.1:1', { name: 'test-unreachable' });
    try {
      const { limiter, tickets } = storesOn(redis);
      // The first command waits for the first connect attempt and one quick retry; after
      // that nothing is queued while Redis is down.
      await expectStateUnavailable(limiter.attempt('k', 1, 1000), 1500);
      await expectStateUnavailable(tickets.save('t', 'v', 1000), 100);
      await expectStateUnavailable(tickets.take('t'), 100);
      expect(redisHealth(redis)).toBe('down');
    } finally {
      redis.disconnect();
    }
  });

  it('with LIMITS_ON_REDIS_FAILURE=local, queues API-budget turns in this replica\'s memory instead', async () => {
    const redis = createRedisClient('redis://127.0.0.1:1', { name: 'test-unreachable-fallback' });
    const warnings: string[] = [];
    const logger = createLogger({ level: 'warn', destination: { write: (line: string) => void warnings.push(line) } });
    try {
      const limiter = createFallbackLimiter(storesOn(redis).limiter, createMemoryLimiter(), createFallbackState(logger));
      expect(await limiter.reserve('api-calls', 1, 1000, 2000)).toEqual({ granted: true, waitMs: 0 });
      const second = await limiter.reserve('api-calls', 1, 1000, 2000);
      expect(second.granted && second.waitMs).toBeGreaterThan(900);
      expect(await limiter.reserve('api-calls', 1, 1000, 500)).toMatchObject({ granted: false });
      expect(warnings.filter((line) => line.includes('LIMITS_ON_REDIS_FAILURE=local'))).toHaveLength(1);
    } finally {
      redis.disconnect();
    }
  });

  it('never passes the password in the URL to the logger', async () => {
    const events: Array<[string, object]> = [];
    const redis = createRedisClient('redis://gateway:s3cr3t-pw@127.0.0.1:1/2', {
      name: 'test-redaction',
      logger: (event, detail) => events.push([event, detail]),
    });
    try {
      await expectStateUnavailable(storesOn(redis).tickets.take('t'), 3000);
      expect(events.some(([event]) => event === 'redis.error')).toBe(true);
      expect(JSON.stringify(events)).not.toContain('s3cr3t-pw');
      expect(events[0]?.[1]).toMatchObject({ host: '127.0.0.1', port: 1, db: 2 });
    } finally {
      redis.disconnect();
    }
  });

  it('rejects a URL that is not redis:// or rediss:// without echoing it', () => {
    expect(() => createRedisClient('http://user:s3cr3t-pw@example.com')).toThrow(TypeError);
    try {
      createRedisClient('http://user:s3cr3t-pw@example.com');
    } catch (error) {
      expect(String(error)).not.toContain('s3cr3t-pw');
    }
  });
});

describe('a Redis that goes away and comes back', () => {
  let server: ThrowawayRedis;
  let redis: Redis;
  const events: string[] = [];

  beforeAll(async () => {
    server = await createThrowawayRedis();
    await server.start();
    redis = createRedisClient(`redis://127.0.0.1:${server.port}`, {
      name: 'test-outage',
      commandTimeoutMs: 500,
      logger: (event) => events.push(event),
    });
    await eventually(() => redisHealth(redis) === 'ready', 5000);
  });

  afterAll(() => {
    redis?.disconnect();
    server?.kill();
  });

  it('refuses promptly while the server is shut down, then serves again on the same client once it restarts', async () => {
    const { limiter, tickets } = storesOn(redis);
    expect((await limiter.attempt('k', 2, 60_000)).allowed).toBe(true);
    await tickets.save('before', 'v', 60_000);

    await server.shutdown();
    await eventually(() => redisHealth(redis) === 'down', 3000);
    await expectStateUnavailable(limiter.attempt('k', 2, 60_000), 1000);
    await expectStateUnavailable(limiter.reserve('api', 2, 1250, 2000), 1000);
    await expectStateUnavailable(limiter.forget('k', 'an-attempt'), 1000);
    await expectStateUnavailable(tickets.save('during', 'v', 60_000), 1000);
    await expectStateUnavailable(tickets.take('before'), 1000);
    expect(events).toContain('redis.down');

    await server.start();
    // The reconnect backoff is capped at 2 s by default.
    await eventually(() => redisHealth(redis) === 'ready', 10_000);
    // A fresh server (no persistence): the counts start over, and the stores work again.
    expect(await limiter.attempt('k', 2, 60_000)).toMatchObject({ allowed: true, remaining: 1 });
    await tickets.save('after', 'w', 60_000);
    expect(await tickets.take('after')).toBe('w');
    expect(events.filter((event) => event === 'redis.ready').length).toBeGreaterThanOrEqual(2);
  });

  it('refuses within the command timeout when the server stops answering without closing the socket', async () => {
    const { limiter, tickets } = storesOn(redis);
    expect((await limiter.attempt('k', 5, 60_000)).allowed).toBe(true);
    server.freeze();
    try {
      await expectStateUnavailable(limiter.attempt('k', 5, 60_000), 2000);
      await expectStateUnavailable(tickets.take('t'), 2000);
    } finally {
      server.thaw();
    }
    await eventually(() => redisHealth(redis) === 'ready', 10_000);
    const decision = await limiter.attempt('k', 5, 60_000);
    expect(decision.allowed).toBe(true);
  });
});

describe('a Redis over TLS (rediss://)', () => {
  let dir: string;
  let server: ThrowawayRedis;
  let ca: string;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vncgw-redis-tls-'));
    const cert = join(dir, 'cert.pem');
    const key = join(dir, 'key.pem');
    await promisify(execFile)(
      'openssl',
      ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '2',
        '-subj', '/CN=localhost', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost'],
      { timeout: 20_000 },
    );
    ca = await readFile(cert, 'utf8');
    server = await createThrowawayRedis((port) => [
      '--port', '0', '--tls-port', String(port), '--tls-cert-file', cert, '--tls-key-file', key,
      '--tls-ca-cert-file', cert, '--tls-auth-clients', 'no',
    ]);
    await server.start();
  });

  afterAll(async () => {
    server?.kill();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('stores and takes a ticket over TLS with the server certificate verified', async () => {
    const redis = createRedisClient(`rediss://localhost:${server.port}`, { name: 'test-tls', tls: { ca } });
    try {
      await eventually(() => redisHealth(redis) === 'ready', 5000);
      const { tickets, limiter } = storesOn(redis);
      await tickets.save('t', 'over-tls', 10_000);
      expect(await tickets.take('t')).toBe('over-tls');
      expect((await limiter.attempt('k', 1, 1000)).allowed).toBe(true);
    } finally {
      redis.disconnect();
    }
  });

  it('refuses a server whose certificate it cannot verify', async () => {
    const redis = createRedisClient(`rediss://localhost:${server.port}`, { name: 'test-tls-untrusted' });
    try {
      await expectStateUnavailable(storesOn(redis).tickets.take('t'), 5000);
    } finally {
      redis.disconnect();
    }
  });
});

describe('Redis key layout', () => {
  let redis: Redis;
  beforeAll(() => {
    redis = createRedisClient(REDIS_URL, { name: 'test-layout' });
  });
  afterAll(async () => {
    await redis?.quit();
  });

  it('keeps each limiter key in one Cluster slot and expires it with the window', async () => {
    const { limiter, keyPrefix } = storesOn(redis);
    await limiter.attempt('instance-connects:lhins-abc', 3, 60_000);
    const key = `${keyPrefix}limit:{instance-connects:lhins-abc}`;
    expect(await redis.zcard(key)).toBe(1);
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(55_000);
    expect(ttl).toBeLessThanOrEqual(60_000);
    await redis.del(key);
  });

  it('keeps reserved turns in one Cluster slot and expires the key when the last turn has left the window', async () => {
    const { limiter, keyPrefix } = storesOn(redis);
    await limiter.reserve('api-calls', 1, 1250, 2000);
    const second = await limiter.reserve('api-calls', 1, 1250, 2000);
    expect(second).toMatchObject({ granted: true });
    const key = `${keyPrefix}limit:{api-calls}`;
    expect(await redis.zcard(key)).toBe(2);
    // The second turn is ~1250 ms ahead and stays counted for a window after it.
    const ttl = await redis.pttl(key);
    expect(ttl).toBeGreaterThan(2000);
    expect(ttl).toBeLessThanOrEqual(2500);
    await redis.del(key);
  });

  it('stores a ticket under a hash-tagged digest, never under the ticket itself', async () => {
    const { tickets, keyPrefix } = storesOn(redis);
    const ticket = `secret-${randomUUID()}`;
    await tickets.save(ticket, 'v', 10_000);
    const keys = await redis.keys(`${keyPrefix}*`);
    expect(keys).toHaveLength(1);
    expect(keys[0]).toMatch(new RegExp(`^${keyPrefix}ticket:\\{[A-Za-z0-9_-]{43}\\}$`));
    expect(keys[0]).not.toContain(ticket);
    const ttl = await redis.pttl(keys[0] as string);
    expect(ttl).toBeGreaterThan(9000);
    await tickets.take(ticket);
    expect(await redis.exists(keys[0] as string)).toBe(0);
  });

  it('refuses to save a ticket id that already exists and keeps the first value', async () => {
    const { tickets } = storesOn(redis);
    await tickets.save('dup', 'first', 10_000);
    await expect(tickets.save('dup', 'second', 10_000)).rejects.toMatchObject({ code: 'internal' });
    expect(await tickets.take('dup')).toBe('first');
  });
});

describe('a Redis Cluster', () => {
  let dir: string;
  const nodes: ThrowawayRedis[] = [];
  let cluster: Cluster;

  beforeAll(async () => {
    dir = await mkdtemp(join(tmpdir(), 'vncgw-redis-cluster-'));
    for (let i = 0; i < 3; i++) {
      const node = await createThrowawayRedis((port) => [
        '--port', String(port), '--cluster-enabled', 'yes', '--cluster-config-file', `nodes-${port}.conf`, '--dir', dir,
      ]);
      nodes.push(node);
      await node.start();
    }
    await promisify(execFile)(
      'redis-cli',
      ['--cluster', 'create', ...nodes.map((node) => `127.0.0.1:${node.port}`), '--cluster-replicas', '0', '--cluster-yes'],
      { timeout: 20_000 },
    );
    cluster = new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), {
      redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2000 },
    });
    const deadline = performance.now() + 15_000;
    for (;;) {
      const info = await cluster.cluster('INFO').catch(() => '');
      if (String(info).includes('cluster_state:ok')) break;
      if (performance.now() > deadline) throw new Error('cluster did not become ok within 15 s');
      await delay(100);
    }
  });

  afterAll(async () => {
    cluster?.disconnect();
    for (const node of nodes) node.kill();
    if (dir !== undefined) await rm(dir, { recursive: true, force: true });
  });

  it('runs the limiter script and the ticket store with keys spread over every node', async () => {
    const keyPrefix = `test:cluster:${randomUUID()}:`;
    const limiter = createRedisLimiter({ redis: cluster, keyPrefix });
    const tickets = createRedisTicketStore({ redis: cluster, keyPrefix });
    for (let i = 0; i < 30; i++) {
      expect((await limiter.attempt(`instance-connects:lhins-${i}`, 1, 10_000)).allowed).toBe(true);
      expect((await limiter.attempt(`instance-connects:lhins-${i}`, 1, 10_000)).allowed).toBe(false);
      await tickets.save(`ticket-${i}`, `v${i}`, 10_000);
      expect(await tickets.take(`ticket-${i}`)).toBe(`v${i}`);
    }
    // 30 keys over 3 masters: the test is only meaningful if they did not all land on one.
    const sizes = await Promise.all(cluster.nodes('master').map((node) => node.dbsize()));
    expect(sizes.filter((size) => size > 0).length).toBeGreaterThan(1);
  });
});
