// The configuration of a Sentinel or Cluster deployment of the shared Redis: its variables
// and their validation (the clients are built in redis-topology.ts).

/** One `host:port` of a seed node or a sentinel. */
export interface HostPort {
  host: string;
  port: number;
}

/** Where the shared Redis is, when it is not a single REDIS_URL. */
export type RedisTopology =
  | { kind: 'sentinel'; sentinels: readonly HostPort[]; name: string; sentinelPassword: string | undefined; username: string | undefined; password: string | undefined; tls: boolean }
  | { kind: 'cluster'; nodes: readonly HostPort[]; username: string | undefined; password: string | undefined; tls: boolean };

/** The variables this file reads, for config.ts's VARIABLES list. */
export const REDIS_TOPOLOGY_VARIABLES = [
  { name: 'REDIS_SENTINELS', description: 'Comma list of Sentinel host:port; with REDIS_SENTINEL_NAME, the master is found (and followed after a failover) through them. Instead of REDIS_URL.', default: 'unset' },
  { name: 'REDIS_SENTINEL_NAME', description: 'Name of the master group the Sentinels watch (required with REDIS_SENTINELS).', default: 'unset' },
  { name: 'REDIS_SENTINEL_PASSWORD', description: 'Password of the Sentinels themselves, when they require one.', default: 'unset' },
  { name: 'REDIS_CLUSTER_NODES', description: 'Comma list of Redis Cluster seed nodes host:port; the rest of the cluster is discovered. Instead of REDIS_URL.', default: 'unset' },
  { name: 'REDIS_USERNAME', description: 'ACL user for the Sentinel-managed master or the Cluster nodes (REDIS_URL carries its own).', default: 'unset' },
  { name: 'REDIS_PASSWORD', description: 'Password for the Sentinel-managed master or the Cluster nodes (REDIS_URL carries its own).', default: 'unset' },
  { name: 'REDIS_TLS', description: 'true: TLS to the Sentinels, the master and the Cluster nodes, verified against the system CAs and NODE_EXTRA_CA_CERTS (REDIS_URL uses rediss://).', default: 'false' },
] as const;

/**
 * Reads REDIS_SENTINELS / REDIS_CLUSTER_NODES and their companions, pushing every problem to
 * `problems`. Returns undefined when neither is set. At most one of REDIS_URL, REDIS_SENTINELS
 * and REDIS_CLUSTER_NODES may be set.
 */
export function parseRedisTopology(get: (name: string) => string | undefined, problems: string[]): RedisTopology | undefined {
  const sentinelsRaw = get('REDIS_SENTINELS');
  const clusterRaw = get('REDIS_CLUSTER_NODES');
  const chosen = [get('REDIS_URL') && 'REDIS_URL', sentinelsRaw && 'REDIS_SENTINELS', clusterRaw && 'REDIS_CLUSTER_NODES'].filter(Boolean);
  if (chosen.length > 1) problems.push(`Set only one of REDIS_URL, REDIS_SENTINELS, REDIS_CLUSTER_NODES (got ${chosen.join(', ')})`);
  const tlsRaw = get('REDIS_TLS') ?? 'false';
  if (tlsRaw !== 'true' && tlsRaw !== 'false') problems.push(`REDIS_TLS must be true or false (got "${tlsRaw}")`);
  const tls = tlsRaw === 'true';
  const username = get('REDIS_USERNAME');
  const password = get('REDIS_PASSWORD');
  const name = get('REDIS_SENTINEL_NAME');
  if (sentinelsRaw === undefined && (name !== undefined || get('REDIS_SENTINEL_PASSWORD') !== undefined)) {
    problems.push('REDIS_SENTINEL_NAME and REDIS_SENTINEL_PASSWORD need REDIS_SENTINELS');
  }
  if (sentinelsRaw !== undefined) {
    const sentinels = hostPorts('REDIS_SENTINELS', sentinelsRaw, 26379, problems);
    if (name === undefined) problems.push('REDIS_SENTINEL_NAME is required with REDIS_SENTINELS: the master group name the Sentinels watch (e.g. mymaster)');
    return { kind: 'sentinel', sentinels, name: name ?? '', sentinelPassword: get('REDIS_SENTINEL_PASSWORD'), username, password, tls };
  }
  if (clusterRaw !== undefined) {
    return { kind: 'cluster', nodes: hostPorts('REDIS_CLUSTER_NODES', clusterRaw, 6379, problems), username, password, tls };
  }
  if (username !== undefined || password !== undefined || tlsRaw === 'true') {
    problems.push('REDIS_USERNAME, REDIS_PASSWORD and REDIS_TLS apply to REDIS_SENTINELS or REDIS_CLUSTER_NODES; with REDIS_URL put them in the URL (rediss://user:password@host)');
  }
  return undefined;
}

function hostPorts(variable: string, raw: string, defaultPort: number, problems: string[]): HostPort[] {
  const entries = raw.split(',').map((s) => s.trim()).filter((s) => s !== '');
  if (entries.length === 0) problems.push(`${variable} must list at least one host:port`);
  return entries.flatMap((entry) => {
    // [v6]:port, host:port, or a bare host.
    const match = /^(?:\[([0-9a-fA-F:.]+)\]|([^:\s/]+))(?::(\d{1,5}))?$/.exec(entry);
    const port = match?.[3] === undefined ? defaultPort : Number(match[3]);
    if (match === null || port < 1 || port > 65535) {
      problems.push(`${variable}: "${entry}" is not host:port`);
      return [];
    }
    return [{ host: (match[1] ?? match[2]) as string, port }];
  });
}
