// The composition root: builds every module from the configuration and the injected
// dependencies, and runs the HTTP server with the WebSocket upgrade handler. main.ts, the
// demo and the tests all start the gateway through here, so tests run the real thing.

import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import type { Server } from 'node:http';
import { createAdaptorServer, type HttpBindings } from '@hono/node-server';
import type { Hono } from 'hono';
import { secretFromFile } from '../auth/hmac-secret.js';
import { createJwtVerifier } from '../auth/jwt-verifier.js';
import { createOriginCheck } from '../auth/origin.js';
import type { Policy } from '../auth/policy.js';
import { createTicketService } from '../auth/tickets.js';
import { createApp, type ReadinessCheck } from './app.js';
import type { AuditLog, AuditSink } from './audit/audit-log.js';
import { createGatewayAudit } from './audit/audit-setup.js';
import { createAuthFailureGuard } from './auth-failure-guard.js';
import { createClientIpResolver } from './client-ip.js';
import type { GatewayConfig } from './config.js';
import { closeReason } from './errors.js';
import { createInstanceConnectBudget } from './limits/instance-connect-budget.js';
import type { SlidingWindowLimiter } from './limits/limiter.js';
import { createRetryConnectCharge } from './limits/retry-connect-charge.js';
import { createInstanceLister } from './instances/instance-list.js';
import { createLogger, type Logger } from './logger.js';
import { createGatewayMetrics } from './metrics.js';
import { createPolicySource, createStaticPolicySource, type PolicyReloadResult } from './policy-source.js';
import { connectUpstream } from './relay/upstream-connect.js';
import { createSetupTracker, drainSessions, type SetupTracker } from './relay/drain-sessions.js';
import { createEgress } from './egress/egress.js';
import type { RelayOptions } from './relay/relay-session.js';
import { createRequestAuthenticator } from './request-auth.js';
import { createHttpAuthenticator } from './http-authenticate.js';
import { createSessionRegistry, type SessionRegistry } from './sessions/session-registry.js';
import { createFleetRuntime } from './sessions/fleet-runtime.js';
import type { FleetSessions } from './sessions/fleet-sessions.js';
import { createSessionRoutes } from './sessions/session-routes.js';
import { createSharedState } from './state/shared-state.js';
import { redisHealth, type RedisConnection } from './state/redis-client.js';
import { createTencentAccounts, tencentAccountOptions } from './tencent/accounts.js';
import { createHttpTransport } from './tencent/http-transport.js';
import { createRegionResolver } from './tencent/regions.js';
import { createHostAllowlist } from './tencent/vnc-url.js';
import { createVncUrlService } from './tencent/vnc-url-service.js';
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
  /** Replaces the budgets' limiter (the bench's scale phase admits everything). */
  limiter?: SlidingWindowLimiter;
  /** Called for each CONNECT tunnel opened through HTTPS_PROXY (tests). */
  onProxyTunnel?: (authority: string) => void;
}

export interface RunningGateway {
  /** `http://host:port` the gateway listens on. */
  url: string;
  port: number;
  server: Server;
  sessions: SessionRegistry;
  redis: RedisConnection | undefined;
  /** This replica's view of the fleet's live sessions (list, terminate). */
  fleet: FleetSessions;
  /** Sessions accepted but not yet relaying (the no-leak test reads it). */
  setups: SetupTracker;
  /** The audit trail; main.ts calls `audit.reopen()` on SIGHUP (log rotation). */
  audit: AuditLog;
  /** Reads POLICY_FILE again (SIGHUP); live sessions are untouched, a broken file is refused. */
  reloadPolicy(): Promise<PolicyReloadResult>;
  /**
   * Stops new sessions (upgrades 503, /readyz 503), lets live ones run for `graceMs`
   * (default SHUTDOWN_GRACE_S), closes the rest with 1001, then the server; resolves when all ended.
   */
  close(options?: { graceMs?: number }): Promise<void>;
}

/** The relay's lifecycle settings from the configuration (tests may override any of them). */
function relayOptions(config: GatewayConfig): RelayOptions {
  return {
    pingIntervalMs: config.relay.keepaliveIntervalSeconds * 1000,
    idleTimeoutMs: config.relay.idleTimeoutSeconds * 1000,
    maxDurationMs: config.relay.maxSessionSeconds * 1000,
    slowConsumerBytes: config.relay.slowConsumerBytes,
    slowConsumerMs: config.relay.slowConsumerSeconds * 1000,
  };
}

export async function startGateway(config: GatewayConfig, overrides: GatewayOverrides = {}): Promise<RunningGateway> {
  const logger = overrides.logger ?? createLogger({ level: config.logLevel });
  // Reloaded on change and on SIGHUP; a broken file keeps the last good policy.
  const policySource = overrides.policy ? createStaticPolicySource(overrides.policy) : await createPolicySource({ file: config.policyFile, logger });
  const policy = (): Policy => policySource.current();
  const verifier = createJwtVerifier({
    ...(config.auth.jwksUrl ? { jwksUrl: config.auth.jwksUrl } : {}),
    ...(config.auth.publicKeyFile ? { staticKeys: readFileSync(config.auth.publicKeyFile, 'utf8') } : {}),
    // HS256/384/512 only with a secret configured on purpose; checked again by the verifier.
    ...(config.auth.hmacSecretFile ? { hmacSecret: secretFromFile(readFileSync(config.auth.hmacSecretFile)) } : {}),
    issuer: config.auth.issuer,
    audience: config.auth.audience,
    algorithms: config.auth.algorithms,
    groupsClaim: config.auth.groupsClaim,
    clockToleranceSeconds: config.auth.clockToleranceSeconds,
    jwksCacheMaxAgeMs: config.auth.jwksCacheSeconds * 1000,
    // An unknown kid refetches at most this often; never less often than the cache expires.
    jwksCooldownMs: Math.min(30_000, config.auth.jwksCacheSeconds * 1000),
  });

  const readiness: ReadinessCheck[] = [{ name: 'signingKeys', check: () => verifier.keysReady() }];
  // Redis (standalone, Sentinel, Cluster) or memory, and LIMITS_ON_REDIS_FAILURE (state/shared-state.ts).
  const sharedState = createSharedState(config, logger);
  const { redis, ticketStore } = sharedState;
  const limiter = overrides.limiter ?? sharedState.limiter;
  readiness.push(...sharedState.readiness);
  const tickets = createTicketService({ store: ticketStore, ttlSeconds: config.ticketTtlSeconds });
  const authFailures = createAuthFailureGuard({
    limiter,
    failuresPerMinute: config.auth.failuresPerMinute,
    onStoreError: (error) => logger.warn({ err: error }, 'could not count a failed authentication'),
  });
  const connectBudget = createInstanceConnectBudget({ limiter, connectsPerMinute: config.instanceConnectsPerMinute });

  const metrics = createGatewayMetrics({
    liveSessions: () => sessions.size,
    readiness,
    isDraining: () => draining,
    ...(redis ? { redisUp: () => redis !== undefined && redisHealth(redis) === 'ready' } : {}),
  });
  // HTTPS_PROXY / NO_PROXY for API calls and upstream sockets (gateway/egress/).
  const egress = createEgress({ ...config.egress, ...(overrides.onProxyTunnel ? { onTunnel: overrides.onProxyTunnel } : {}) });
  // Credentials are resolved here, once: no source found is a start-up error (tencent/accounts.ts).
  const tencentAccounts = await createTencentAccounts({ ...tencentAccountOptions(config), transport: createHttpTransport({ ...(overrides.ca ? { ca: overrides.ca } : {}), agentFor: egress.apiAgent }), limiter, logger, wrapClient: (client) => metrics.instrumentTencent(client) });
  const tencent = tencentAccounts.primary.client;
  const allowHost = createHostAllowlist(config.upstreamHosts);
  const vncUrls = createVncUrlService({ accounts: tencentAccounts, regions: createRegionResolver(config.tencent.instanceRegions), allowHost, connectDeadlineMs: config.tencent.connectDeadlineMs, logger, beforeCall: createRetryConnectCharge(connectBudget) });
  // Sinks, query reader and readiness checks (AUDIT_STDOUT, AUDIT_FILE, AUDIT_REDIS_STREAM).
  const gatewayAudit = await createGatewayAudit({ config: config.audit, redis, logger, ...(overrides.auditSink ? { lineSink: overrides.auditSink } : {}) });
  readiness.push(...gatewayAudit.readiness);
  const audit = metrics.observeAudit(gatewayAudit.log);
  if (config.allowedOrigins.length === 0) {
    // The same-host fallback (request-auth.ts) is for trials: it cannot tell an http:// page on
    // this host from the https:// one unless the scheme is known, and it trusts whatever Host
    // the proxy forwards. Production names its origin.
    logger.warn(
      { fallback: 'same-host Origin check' },
      'neither PUBLIC_URL nor ALLOWED_ORIGINS is set: browser requests are accepted from any page whose Origin host matches the request Host, the scheme compared only when TLS or a TRUST_PROXY X-Forwarded-Proto shows it; set PUBLIC_URL or ALLOWED_ORIGINS outside a trial',
    );
  }
  const auth = createRequestAuthenticator({
    verifier,
    originAllowed: config.allowedOrigins.length > 0 ? createOriginCheck(config.allowedOrigins) : undefined,
    trustProxy: config.trustProxy,
    ...(config.auth.tokenHeader ? { tokenHeader: config.auth.tokenHeader } : {}),
    ...(config.auth.tokenCookie ? { tokenCookie: config.auth.tokenCookie } : {}),
  });
  const clientIp = createClientIpResolver(config.trustProxy);
  const sessions = createSessionRegistry();
  const fleet = createFleetRuntime({ config, state: sharedState, registry: sessions, limiter, connectBudget, audit, logger });
  let draining = false;
  const isDraining = (): boolean => draining;
  const setups = createSetupTracker();

  const onUpgrade = createUpgradeHandler({
    auth,
    tickets,
    policy,
    authFailures,
    endSessionAtExpiry: config.auth.endSessionAtExpiry,
    connectBudget,
    admission: fleet.admission,
    vncUrl: (instanceId, request) => vncUrls(instanceId, request),
    connectUpstream: (url, protocols) =>
      connectUpstream(url, {
        protocols,
        timeoutMs: config.upstreamConnectTimeoutMs,
        maxPayloadBytes: config.relay.maxUpstreamFrameBytes,
        ...(overrides.ca ? { ca: overrides.ca } : {}),
        ...(egress.upstreamAgent(url) ? { agent: egress.upstreamAgent(url) } : {}),
      }),
    audit,
    logger,
    sessions,
    clientIp,
    isDraining,
    relay: { ...relayOptions(config), ...overrides.relay },
    maxClientPayloadBytes: config.relay.maxClientFrameBytes,
    setups,
  });
  const authenticate = createHttpAuthenticator({ auth, audit, clientIp, authFailures });
  const app = createApp({
    tickets,
    policy,
    authenticate,
    audit,
    logger,
    clientIp,
    readiness,
    isDraining,
    metrics,
    auditReader: gatewayAudit.reader,
    sessionRoutes: createSessionRoutes({ authenticate, policy, sessions: fleet.sessions, clientIp, logger }),
    ...(config.auth.loginUrl ? { loginUrl: config.auth.loginUrl } : {}),
    instances: createInstanceLister({ tencent, regions: config.instanceListRegions, logger }),
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
  logger.info({ port, host: config.host, keySource: verifier.keySource, state: redis ? 'redis' : 'memory', rules: policy().rules.length }, 'gateway listening');

  return {
    url: `http://${shownHost}:${port}`,
    port,
    server,
    sessions,
    redis,
    fleet: fleet.sessions,
    setups,
    audit,
    reloadPolicy: () => policySource.reload('SIGHUP'),
    async close(options: { graceMs?: number } = {}) {
      draining = true;
      policySource.close();
      // Upgrades are refused and /readyz says 503 from here; sessions get SHUTDOWN_GRACE_S, then 1001.
      const drained = await drainSessions(sessions, { setups, graceMs: options.graceMs ?? config.shutdownGraceSeconds * 1000 });
      logger.info(drained, 'sessions drained');
      // Let the upgrade handler write the session.ended records that follow relay.done.
      await new Promise((resolve) => setImmediate(resolve));
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      // Every record, the session.ended ones above included, is on disk / in the stream before close resolves.
      await audit.close();
      await fleet.close();
      if (redis) await redis.quit().catch(() => redis?.disconnect());
    },
  };
}
