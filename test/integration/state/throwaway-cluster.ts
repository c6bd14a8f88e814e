// Starts a private 3-master Redis Cluster (three redis-servers on free ports, joined with
// `redis-cli --cluster create`) for tests that must prove the Lua scripts are Cluster-safe.

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import { Cluster } from 'ioredis';
import { createThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.js';

/** A running throwaway Cluster. */
export interface ThrowawayCluster {
  /** The masters' ports. */
  readonly ports: readonly number[];
  /** A new client for the cluster, failing fast like the gateway's. */
  connect(): Cluster;
  /** Kills every node and removes its files. */
  stop(): Promise<void>;
}

/** Starts three cluster-enabled nodes, creates the cluster and waits (bounded) for `cluster_state:ok`. */
export async function startThrowawayCluster(): Promise<ThrowawayCluster> {
  const dir = await mkdtemp(join(tmpdir(), 'vncgw-cluster-'));
  const nodes: ThrowawayRedis[] = [];
  const stop = async (): Promise<void> => {
    for (const node of nodes) node.kill();
    await rm(dir, { recursive: true, force: true });
  };
  try {
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
    const connect = (): Cluster =>
      new Cluster(nodes.map((node) => ({ host: '127.0.0.1', port: node.port })), {
        redisOptions: { maxRetriesPerRequest: 1, commandTimeout: 2000 },
      });
    const probe = connect();
    try {
      const deadline = performance.now() + 15_000;
      for (;;) {
        const info = await probe.cluster('INFO').catch(() => '');
        if (String(info).includes('cluster_state:ok')) break;
        if (performance.now() > deadline) throw new Error('cluster did not become ok within 15 s');
        await delay(100);
      }
    } finally {
      probe.disconnect();
    }
    return { ports: nodes.map((node) => node.port), connect, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
