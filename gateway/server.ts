// The composition root: builds every module from the configuration and the injected
// dependencies, and runs the HTTP server with the WebSocket upgrade handler. main.ts, the
// demo and the tests all start the gateway through here, so tests run the real thing.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import type { Redis } from 'ioredis';
import { createJwtVerifier } from '../auth/jwt-verifier.js';
import { createMemoryTicketStore } from '../auth/memory-ticket-store.js';
import { createOriginCheck } from '../auth/origin.js';
import { loadPolicyFile, type Policy } from '../auth/policy.js';
import { createTicketService } from '../auth/tickets.js';
import { createApp, type ReadinessCheck } from './app.js';
import { createAuditLog, createStdoutSink, type AuditSink } from './audit/audit-log.js';
import { createClientIpResolver } from './client-ip.js';
import type { GatewayConfig } from './config.js';
import { closeReason } from './errors.js';
import { createApiBudget } from './limits/api-budget.js';
import { createInstanceConnectBudget } from './limits/instance-connect-budget.js';
import { createMemoryLimiter } from './limits/memory-limiter.js';
import { createRedisLimiter } from './limits/redis-limiter.js';
import { createLogger, type Logger } from './logger.js';
import { connectUpstream } from './relay/upstream-connect.js';
import type { RelayOptions } from './relay/relay-session.js';
import { createRequestAuthenticator } from './request-auth.js';
import { createSessionRegistry, type SessionRegistry } from './sessions/session-registry.js';
import { createRedisClient, redisHealth } from './state/redis-client.js';
import { createRedisTicketStore } from './state/redis-ticket-store.js';
import { createTencentClient } from './tencent/client.js';
import { createStaticCredentialProvider } from './tencent/credentials.js';
import { createHttpTransport } from './tencent/http-transport.js';
import { createHostAllowlist, describeInstanceVncUrl } from './tencent/vnc-url.js';
import { createUpgradeHandler } from './upgrade.js';

export interface GatewayOverrides {
  logger?: Logger;
  auditSink?: AuditSink;
  /** Extra trust anchors for the Tencent API and upstream TLS (tests); operators use NODE_EXTRA_CA_CERTS. */
  ca?: readonly string[];
  /** A policy instead of POLICY_FILE (tests). */
  policy?: Policy;
  /** Routes mounted before the console (the demo sign-in). */
  extraRoutes?: Hono<{ Bindings: HttpBindings }>;
  relay?: RelayOptions;
}

export interface RunningGateway {
  /** `http://host:port` the gateway listens on. */
  url: string;
  port: number;
  server: Server;
  sessions: SessionRegistry;
  redis: Redis | undefined;
  /** Stops new sessions, closes live ones with 1001 and the server; resolves when all ended. */
  close(): Promise<void>;
}

export async function startGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  const policy = overrides.policy ?? (await loadPolicyFile(config.policyFile));
  const verifier = createJwtVerifier({
    ...(config.auth.jwksUrl ? { jwksUrl: config.auth.jwksUrl } : { staticKeys: readFileSync(config.auth.publicKeyFile ?? '', 'utf8') }),
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    algorithms: config.auth.algorithms,
    groupsClaim: config.auth.groupsClaim,
    clockToleranceSeconds: config.auth.clockToleranceSeconds,
  });

  let redis: Redis | undefined;
  const readiness: ReadinessCheck[] = [{ name: 'signingKeys', check: () => verifier.keysReady() }];
  let ticketStore;
  let limiter;
  if (config.redisUrl) {
    redis = createRedisClient(config.redisUrl, {
      name: 'vnc-gateway',
      logger: (event, detail) => logger.info({ ...detail, event }, 'redis connection state'),
    });
    ticketStore = createRedisTicketStore({ redis, keyPrefix: `${config.keyPrefix}ticket:` });
    limiter = createRedisLimiter({ redis, keyPrefix: `${config.keyPrefix}limit:` });
    const client = redis;
    readiness.push({ name: 'redis', check: () => redisHealth(client) === 'ready' });
  } else {
    logger.warn('REDIS_URL is not set: tickets and limits live in this process only. Run ONE replica like this; several replicas would each spend Tencent\'s budgets.');
    ticketStore = createMemoryTicketStore();
    limiter = createMemoryLimiter();
  }
  const tickets = createTicketService({ store: ticketStore, ttlSeconds: config.ticketTtlSeconds });
  const connectBudget = createInstanceConnectBudget({ limiter, connectsPerMinute: config.instanceConnectsPerMinute });
  const apiBudget = createApiBudget({ limiter, requestsPerSecond: config.apiRequestsPerSecond });

  const tencent = createTencentClient({
    credentials: createStaticCredentialProvider({
      secretId: config.tencent.secretId,
      secretKey: config.tencent.secretKey,
      ...(config.tencent.sessionToken ? { token: config.tencent.sessionToken } : {}),
    }),
    transport: createHttpTransport(overrides.ca ? { ca: overrides.ca } : {}),
    region: config.tencent.region,
    endpoints: { lighthouse: config.tencent.lighthouseEndpoint, cvm: config.tencent.cvmEndpoint },
    timeoutMs: config.tencent.apiTimeoutMs,
  });
  const allowHost = createHostAllowlist(config.upstreamHosts);
  const audit = createAuditLog({ sink: overrides.auditSink ?? createStdoutSink() });
  const auth = createRequestAuthenticator({
    verifier,
    originAllowed: config.allowedOrigins.length > 0 ? createOriginCheck(config.allowedOrigins) : undefined,
    ...(config.auth.tokenHeader ? { tokenHeader: config.auth.tokenHeader } : {}),
    ...(config.auth.tokenCookie ? { tokenCookie: config.auth.tokenCookie } : {}),
  });
  const clientIp = createClientIpResolver(config.trustProxy);
  const sessions = createSessionRegistry();
  let draining = false;
  const isDraining = (): boolean => draining;

  const onUpgrade = createUpgradeHandler({
    auth,
    tickets,
    policy: () => policy,
    connectBudget,
    apiBudget,
    vncUrl: (instanceId) => describeInstanceVncUrl(tencent, instanceId, allowHost),
    connectUpstream: (url, protocols) =>
      connectUpstream(url, { protocols, timeoutMs: config.upstreamConnectTimeoutMs, ...(overrides.ca ? { ca: overrides.ca } : {}) }),
    audit,
    logger,
    sessions,
    clientIp,
    isDraining,
    ...(overrides.relay ? { relay: overrides.relay } : {}),
  });
  const app = createApp({
    auth,
    tickets,
    policy: () => policy,
    audit,
    logger,
    clientIp,
    readiness,
    isDraining,
    ...(config.auth.loginUrl ? { loginUrl: config.auth.loginUrl } : {}),
    ...(overrides.extraRoutes ? { extraRoutes: overrides.extraRoutes } : {}),
  });

  const server = createAdaptorServer({ fetch: app.fetch }) as Server;
  server.on('upgrade', onUpgrade);
  // Slow-header clients must not hold sockets open forever.
  server.headersTimeout = 10_000;
  server.requestTimeout = 30_000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.port, config.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  const shownHost = config.host === '0.0.0.0' || config.host === '::' ? '127.0.0.1' : config.host;
  logger.info({ port, host: config.host, keySource: verifier.keySource, state: redis ? 'redis' : 'memory', rules: policy.rules.length }, 'gateway listening');

  return {
    url: `http://${shownHost}:${port}`,
    port,
    server,
    sessions,
    redis,
    async close() {
      draining = true;
      const ending = sessions.list().map((session) => {
        session.relay.close(1001, closeReason('shutting_down', 'The gateway is restarting; reconnect in a moment.'), 'gateway', 'shutdown');
        return session.relay.done;
      });
      await Promise.all(ending);
      // Let the upgrade handler write the session.ended records that follow relay.done.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      if (redis) await redis.quit().catch(() => redis?.disconnect());
    },
  };
}
