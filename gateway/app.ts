// The gateway's HTTP routes (Hono): the ticket API, health and readiness, and the console.
// The WebSocket path is handled before Hono, in upgrade.ts.

import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { HttpBindings } from '@hono/node-server';
import type { Identity } from '../auth/identity.js';
import { decide, type Policy } from '../auth/policy.js';
import type { TicketService } from '../auth/tickets.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuditReader } from './audit/audit-reader.js';
import { createAuditRoutes } from './audit/audit-routes.js';
import type { HttpAuthenticate } from './http-authenticate.js';
import type { Actor } from './audit/audit-events.js';
import type { ClientIpResolver } from './client-ip.js';
import { createConsoleRoutes } from './console/console-routes.js';
import { createSecurityHeaders } from './console/security-headers.js';
import { GatewayError, isGatewayError } from './errors.js';
import type { InstanceLister } from './instances/instance-list.js';
import { createInstanceRoutes } from './instances/instance-routes.js';
import type { Logger } from './logger.js';
import { createRequestLog } from './request-log.js';
import { isInstanceId } from './tencent/products.js';
import { isRegionName } from './tencent/regions.js';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean> | boolean;
}

export interface AppDeps {
  tickets: TicketService;
  policy: () => Policy;
  /** The API routes' and pages' authentication: brake, token, Origin, verification, all audited. */
  authenticate: HttpAuthenticate;
  audit: AuditLog;
  logger: Logger;
  clientIp: ClientIpResolver;
  readiness: readonly ReadinessCheck[];
  isDraining: () => boolean;
  loginUrl?: string;
  /** The instance picker's list (GET /api/v1/instances); absent = route not mounted. */
  instances?: InstanceLister;
  /** Extra routes mounted first (the demo sign-in). */
  extraRoutes?: Hono<{ Bindings: HttpBindings }>;
  /** Prometheus exposition for GET /metrics (gateway/metrics.ts); absent = no route. */
  metrics?: { contentType: string; render(): Promise<string> };
  /** Where GET /api/v1/audit reads (gateway/audit/audit-routes.ts); undefined = 404 with a hint. */
  auditReader?: AuditReader | undefined;
  /** GET/DELETE /api/v1/sessions (sessions/session-routes.ts). */
  sessionRoutes?: Hono<{ Bindings: HttpBindings }>;
}

type Env = { Bindings: HttpBindings; Variables: { requestId: string; identity: Identity } };

const MAX_TICKET_BODY_BYTES = 1024;

export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use('*', createRequestLog({ logger: deps.logger }));
  app.use('*', createSecurityHeaders());

  const clientIpOf = (c: Context<Env>): string => deps.clientIp(c.env.incoming.socket.remoteAddress, c.req.header('x-forwarded-for'));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  const metrics = deps.metrics;
  if (metrics) app.get('/metrics', async (c) => c.body(await metrics.render(), 200, { 'Content-Type': metrics.contentType, 'Cache-Control': 'no-store' }));
  app.get('/readyz', async (c) => {
    const results: Record<string, boolean> = { notDraining: !deps.isDraining() };
    for (const { name, check } of deps.readiness) {
      try {
        results[name] = await check();
      } catch {
        results[name] = false;
      }
    }
    const ready = Object.values(results).every(Boolean);
    return c.json({ status: ready ? 'ready' : 'not ready', checks: results }, ready ? 200 : 503);
  });

  const ticketBodyLimit = bodyLimit({
    maxSize: MAX_TICKET_BODY_BYTES,
    onError: () => {
      throw new GatewayError('bad_request', { message: 'The request body is too large.' });
    },
  });

  // Who is calling comes before the body: an anonymous or braked caller gets 401 / 429 whatever
  // it sends, learns nothing from how its body would be judged, and costs no body reading.
  // Credential refusals are audited (auth.failed / ratelimit.exceeded) by authenticate().
  const ticketCaller = async (c: Context<Env, '/api/v1/instances/:instanceId/tickets'>, next: () => Promise<void>): Promise<void> => {
    if (!isInstanceId(c.req.param('instanceId'))) throw new GatewayError('instance_id_invalid');
    // State-changing call: a cookie- or proxy-header-authenticated request must come from our own pages.
    c.set('identity', await deps.authenticate(c, { stateChanging: true, instanceId: c.req.param('instanceId') }));
    await next();
  };

  app.post('/api/v1/instances/:instanceId/tickets', ticketCaller, ticketBodyLimit, async (c) => {
    const instanceId = c.req.param('instanceId');
    const gatewayRequestId = c.get('requestId');
    const clientIp = clientIpOf(c);
    const identity = c.get('identity');
    const actor: Actor = identity.email ? { sub: identity.sub, email: identity.email } : { sub: identity.sub };
    const base = () => ({ actor, instanceId, clientIp, gatewayRequestId });
    try {
      const body = await readSmallJsonBody(c);
      // `{"region":"ap-shanghai"}` (the console passes its `?region=`): checked strictly, since it ends up in a signed header.
      if (body.region !== undefined && !isRegionName(body.region)) throw new GatewayError('bad_request', { message: 'region is not a region name like ap-guangzhou.' });
      const region = body.region as string | undefined;
      const decision = decide(deps.policy(), identity, instanceId);
      if (!decision.allowed) throw new GatewayError('access_denied', { cause: new Error(decision.reason) });
      if (decision.role === 'viewer') {
        throw new GatewayError('access_denied', { message: 'View-only access is not available yet; ask for operator access to this instance.' });
      }
      // No ticket while the trail cannot be written (AUDIT_ON_FAILURE).
      deps.audit.ensureWritable();
      const { ticket, expiresAt } = await deps.tickets.issue({
        sub: identity.sub,
        ...(identity.email ? { email: identity.email } : {}),
        groups: identity.groups,
        instanceId,
        role: decision.role,
        ...(decision.maxSessionSeconds === undefined ? {} : { maxSessionSeconds: decision.maxSessionSeconds }),
        tokenExpiresAt: identity.expiresAt,
        ...(region === undefined ? {} : { region }),
      });
      const expiresAtIso = new Date(expiresAt).toISOString();
      deps.audit.record({ type: 'ticket.issued', ...base(), role: decision.role, expiresAt: expiresAtIso });
      c.header('Cache-Control', 'no-store');
      return c.json({ ticket, expiresAt: expiresAtIso, websocketPath: `/ws/instances/${instanceId}` }, 201);
    } catch (error) {
      if (isGatewayError(error) && error.code !== 'bad_request') {
        deps.audit.record({ type: 'session.denied', ...base(), code: error.code, stage: 'ticket', httpStatus: error.httpStatus });
      }
      throw error;
    }
  });

  const authenticate = deps.authenticate;
  if (deps.instances) app.route('/', createInstanceRoutes({ authenticate, policy: deps.policy, lister: deps.instances }));
  app.route('/', createAuditRoutes({ authenticate, policy: deps.policy, reader: deps.auditReader, logger: deps.logger }));
  if (deps.sessionRoutes) app.route('/', deps.sessionRoutes);
  if (deps.extraRoutes) app.route('/', deps.extraRoutes);
  // The pages need a valid JWT from any configured source; an anonymous visitor gets the
  // 401 sign-in page and no console script at all. Checked by the API routes' authenticate()
  // (per-IP brake, auth.failed records), or the page would be a free oracle for trying tokens;
  // a braked address gets the 429 rather than a sign-in page that would invite another try.
  const isSignedIn = async (c: Context): Promise<boolean> => {
    try {
      await deps.authenticate(c as unknown as Context<Env>, { stateChanging: false, page: true });
      return true;
    } catch (error) {
      if (isGatewayError(error) && error.code === 'rate_limited') throw error;
      return false;
    }
  };
  app.route('/', createConsoleRoutes({ ...(deps.loginUrl ? { loginUrl: deps.loginUrl } : {}), isSignedIn }));

  app.notFound((c) => c.json(new GatewayError('not_found').toBody(), 404));
  app.onError((error, c) => {
    if (isGatewayError(error)) {
      if (error.retryAfterSeconds !== undefined) c.header('Retry-After', String(error.retryAfterSeconds));
      deps.logger.info({ requestId: c.get('requestId'), code: error.code, cause: error.cause instanceof Error ? error.cause.message : undefined }, 'request refused');
      return c.json(error.toBody(), error.httpStatus as 400);
    }
    deps.logger.error({ requestId: c.get('requestId'), err: error }, 'unhandled error');
    return c.json(new GatewayError('internal').toBody(), 500);
  });
  return app;
}

/** The ticket call takes an optional small JSON object; anything else is refused. */
async function readSmallJsonBody(c: Context<Env>): Promise<Record<string, unknown>> {
  // bodyLimit has already refused anything larger than MAX_TICKET_BODY_BYTES, streamed or not.
  const text = await c.req.text();
  if (text.trim() === '') return {};
  const type = c.req.header('content-type') ?? '';
  if (!/^application\/json\b/i.test(type)) throw new GatewayError('bad_request', { message: 'The request body must be JSON.' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    throw new GatewayError('bad_request', { message: 'The request body is not valid JSON.' });
  }
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new GatewayError('bad_request', { message: 'The request body must be a JSON object.' });
  }
  return parsed as Record<string, unknown>;
}
