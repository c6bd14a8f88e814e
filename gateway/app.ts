// The gateway's HTTP routes (Hono): the ticket API, health and readiness, and the console.
// The WebSocket path is handled before Hono, in upgrade.ts.

import { randomUUID } from 'node:crypto';
import { Hono, type Context } from 'hono';
import { bodyLimit } from 'hono/body-limit';
import type { HttpBindings } from '@hono/node-server';
import type { Identity } from '../auth/identity.js';
import { decide, type Policy } from '../auth/policy.js';
import type { TicketService } from '../auth/tickets.js';
import type { AuditLog } from './audit/audit-log.js';
import type { Actor } from './audit/audit-events.js';
import type { ClientIpResolver } from './client-ip.js';
import { createConsoleRoutes } from './console/console-routes.js';
import { createSecurityHeaders } from './console/security-headers.js';
import { GatewayError, isGatewayError } from './errors.js';
import type { Logger } from './logger.js';
import type { RequestAuthenticator } from './request-auth.js';
import { isInstanceId } from './tencent/products.js';

export interface ReadinessCheck {
  name: string;
  check: () => Promise<boolean> | boolean;
}

export interface AppDeps {
  auth: RequestAuthenticator;
  tickets: TicketService;
  policy: () => Policy;
  audit: AuditLog;
  logger: Logger;
  clientIp: ClientIpResolver;
  readiness: readonly ReadinessCheck[];
  isDraining: () => boolean;
  loginUrl?: string;
  /** Extra routes mounted first (the demo sign-in). */
  extraRoutes?: Hono<{ Bindings: HttpBindings }>;
}

type Env = { Bindings: HttpBindings; Variables: { requestId: string } };

const MAX_TICKET_BODY_BYTES = 1024;

export function createApp(deps: AppDeps): Hono<Env> {
  const app = new Hono<Env>();
  app.use('*', async (c, next) => {
    c.set('requestId', randomUUID());
    await next();
  });
  app.use('*', createSecurityHeaders());

  const clientIpOf = (c: Context<Env>): string => deps.clientIp(c.env.incoming.socket.remoteAddress, c.req.header('x-forwarded-for'));

  app.get('/healthz', (c) => c.json({ status: 'ok' }));
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

  app.post('/api/v1/instances/:instanceId/tickets', ticketBodyLimit, async (c) => {
    const instanceId = c.req.param('instanceId');
    const gatewayRequestId = c.get('requestId');
    const clientIp = clientIpOf(c);
    let actor: Actor | null = null;
    const base = () => ({ actor, instanceId, clientIp, gatewayRequestId });
    try {
      if (!isInstanceId(instanceId)) throw new GatewayError('instance_id_invalid');
      await readSmallJsonBody(c);
      const token = deps.auth.findToken((name) => c.req.header(name));
      if (token === undefined) {
        deps.audit.record({ type: 'auth.failed', ...base(), code: 'auth_required', source: 'none' });
        throw new GatewayError('auth_required');
      }
      // State-changing call: a cookie- or proxy-header-authenticated request must come from our own pages.
      deps.auth.checkOrigin(c.req.header('origin'), token.source, c.req.header('host'));
      let identity: Identity;
      try {
        identity = await deps.auth.verify(token);
      } catch (error) {
        if (isGatewayError(error)) deps.audit.record({ type: 'auth.failed', ...base(), code: error.code, source: token.source });
        throw error;
      }
      actor = identity.email ? { sub: identity.sub, email: identity.email } : { sub: identity.sub };
      const decision = decide(deps.policy(), identity, instanceId);
      if (!decision.allowed) throw new GatewayError('access_denied', { cause: new Error(decision.reason) });
      if (decision.role === 'viewer') {
        throw new GatewayError('access_denied', { message: 'View-only access is not available yet; ask for operator access to this instance.' });
      }
      const { ticket, expiresAt } = await deps.tickets.issue({
        sub: identity.sub,
        ...(identity.email ? { email: identity.email } : {}),
        groups: identity.groups,
        instanceId,
        role: decision.role,
        ...(decision.maxSessionSeconds === undefined ? {} : { maxSessionSeconds: decision.maxSessionSeconds }),
        tokenExpiresAt: identity.expiresAt,
      });
      const expiresAtIso = new Date(expiresAt).toISOString();
      deps.audit.record({ type: 'ticket.issued', ...base(), role: decision.role, expiresAt: expiresAtIso });
      c.header('Cache-Control', 'no-store');
      return c.json({ ticket, expiresAt: expiresAtIso, websocketPath: `/ws/instances/${instanceId}` }, 201);
    } catch (error) {
      if (isGatewayError(error) && error.code !== 'auth_required' && error.code !== 'auth_invalid' && error.code !== 'bad_request' && error.code !== 'instance_id_invalid') {
        deps.audit.record({ type: 'session.denied', ...base(), code: error.code, stage: 'ticket', httpStatus: error.httpStatus });
      }
      throw error;
    }
  });

  if (deps.extraRoutes) app.route('/', deps.extraRoutes);
  app.route('/', createConsoleRoutes({ ...(deps.loginUrl ? { loginUrl: deps.loginUrl } : {}) }));

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
