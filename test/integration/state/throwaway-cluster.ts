// Starts a private 3-master Redis Cluster (three redis-servers on free ports, joined with
// `redis-cli --cluster create`) for tests that must prove the Lua scripts are Cluster-safe,
// and hands out the gateway's own Cluster client for it (state/redis-topology.ts).

import { execFile } from 'node:child_process';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import { promisify } from 'node:util';
import type { Cluster } from 'ioredis';
import { createRedisConnection, type RedisTopology } from '../../../gateway/state/redis-topology.js';
import { createThrowawayRedis, type ThrowawayRedis } from './throwaway-redis.js';

/** A running throwaway Cluster. */
export interface ThrowawayCluster {
  /** The masters' ports. */
  readonly ports: readonly number[];
  /** The masters, to stop and start one (it keeps its slots: the cluster config survives in its dir). */
  readonly nodes: readonly ThrowawayRedis[];
  /** The cluster as REDIS_CLUSTER_NODES describes it. */
  readonly topology: RedisTopology;
  /** A new client built the way the gateway builds one (createRedisConnection), failing fast the same way. */
  connect(name?: string): Cluster;
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
    const topology: RedisTopology = {
      kind: 'cluster',
      nodes: nodes.map((node) => ({ host: '127.0.0.1', port: node.port })),
      username: undefined,
      password: undefined,
      tls: false,
    };
    // The topology kind is cluster, so the connection is a Cluster.
    const connect = (name = 'vnc-gateway-test'): Cluster => createRedisConnection(topology, { name }) as Cluster;
    const probe = connect('vnc-gateway-test-probe');
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
    return { ports: nodes.map((node) => node.port), nodes, topology, connect, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
