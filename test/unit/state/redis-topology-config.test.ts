import { describe, expect, it } from 'vitest';
import { parseRedisTopology } from '../../../gateway/state/redis-topology-config.js';

function parse(env: Record<string, string>): { topology: ReturnType<typeof parseRedisTopology>; problems: string[] } {
  const problems: string[] = [];
  return { topology: parseRedisTopology((name) => env[name], problems), problems };
}

describe('Redis topology configuration', () => {
  it('reads Sentinels with the master name, credentials and TLS', () => {
    const { topology, problems } = parse({ REDIS_SENTINELS: 's1:26380, s2, [::1]:26381', REDIS_SENTINEL_NAME: 'mymaster', REDIS_PASSWORD: 'pw', REDIS_TLS: 'true' });
    expect(problems).toEqual([]);
    expect(topology).toMatchObject({ kind: 'sentinel', name: 'mymaster', password: 'pw', tls: true, sentinels: [{ host: 's1', port: 26380 }, { host: 's2', port: 26379 }, { host: '::1', port: 26381 }] });
  });

  it('reads Cluster seed nodes', () => {
    const { topology, problems } = parse({ REDIS_CLUSTER_NODES: '10.0.0.1:7000,10.0.0.2:7001' });
    expect(problems).toEqual([]);
    expect(topology).toMatchObject({ kind: 'cluster', tls: false, nodes: [{ host: '10.0.0.1', port: 7000 }, { host: '10.0.0.2', port: 7001 }] });
  });

  it('returns nothing for REDIS_URL or memory', () => {
    expect(parse({ REDIS_URL: 'redis://x' })).toEqual({ topology: undefined, problems: [] });
    expect(parse({})).toEqual({ topology: undefined, problems: [] });
  });

  it('lists every problem: two topologies, a missing master name, a bad node, a bad REDIS_TLS', () => {
    const { problems } = parse({ REDIS_URL: 'redis://x', REDIS_SENTINELS: 'a:99999', REDIS_TLS: 'yes' });
    expect(problems.join('\n')).toMatch(/only one of REDIS_URL, REDIS_SENTINELS/);
    expect(problems.join('\n')).toMatch(/REDIS_SENTINEL_NAME is required/);
    expect(problems.join('\n')).toMatch(/"a:99999" is not host:port/);
    expect(problems.join('\n')).toMatch(/REDIS_TLS must be true or false/);
  });

  it('refuses credentials meant for Sentinel or Cluster next to REDIS_URL, without echoing them', () => {
    const { problems } = parse({ REDIS_URL: 'redis://x', REDIS_PASSWORD: 's3cr3t' });
    expect(problems).toHaveLength(1);
    expect(problems[0]).not.toContain('s3cr3t');
  });
});
