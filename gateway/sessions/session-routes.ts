// GET /api/v1/sessions and DELETE /api/v1/sessions/:id: admins (a policy rule with role admin)
// see the live sessions of every replica and end one wherever it runs.

import { randomUUID } from 'node:crypto';
import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { Identity } from '../../auth/identity.js';
import { isAdmin, type Policy } from '../../auth/policy.js';
import type { ClientIpResolver } from '../client-ip.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HttpAuthenticate, HttpCallContext } from '../http-authenticate.js';
import type { FleetSessions } from './fleet-sessions.js';
import type { SessionRecord } from './session-store.js';

export interface SessionRoutesDeps {
  authenticate: HttpAuthenticate;
  policy: () => Policy;
  sessions: FleetSessions;
  clientIp: ClientIpResolver;
  logger: Logger;
}

// Session ids are UUIDs; anything else cannot name a session.
const SESSION_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** The admin session routes, mounted by app.ts; errors go to the app's error handler. */
export function createSessionRoutes(deps: SessionRoutesDeps): Hono<{ Bindings: HttpBindings }> {
  const routes = new Hono<{ Bindings: HttpBindings }>();

  // Listing is a read (no Origin needed on same-origin GETs); ending a session changes state,
  // so a cookie-borne credential must come from our own pages.
  async function admin(c: HttpCallContext, stateChanging: boolean): Promise<Identity> {
    const identity = await deps.authenticate(c, { stateChanging });
    if (!isAdmin(deps.policy(), identity)) {
      throw new GatewayError('access_denied', { message: 'Only admins may see or end sessions.', cause: new Error(`${identity.sub} is not an admin`) });
    }
    return identity;
  }

  routes.get('/api/v1/sessions', async (c) => {
    const identity = await admin(c, false);
    const records = await deps.sessions.list();
    deps.logger.info({ sub: identity.sub, returned: records.length }, 'sessions listed');
    c.header('Cache-Control', 'no-store');
    return c.json({ sessions: records.map(view) });
  });

  routes.delete('/api/v1/sessions/:sessionId', async (c) => {
    const identity = await admin(c, true);
    const sessionId = c.req.param('sessionId');
    if (!SESSION_ID.test(sessionId)) throw new GatewayError('not_found', { message: 'No such live session.' });
    const result = await deps.sessions.terminate({
      sessionId,
      by: identity.email ? { sub: identity.sub, email: identity.email } : { sub: identity.sub },
      gatewayRequestId: randomUUID(),
      clientIp: deps.clientIp(c.env.incoming.socket.remoteAddress, c.req.header('x-forwarded-for')),
    });
    if (result.outcome === 'not_found' || result.record === undefined) throw new GatewayError('not_found', { message: 'No such live session.' });
    deps.logger.info({ sub: identity.sub, sessionId, replicaId: result.record.replicaId, outcome: result.outcome }, 'session terminate requested');
    c.header('Cache-Control', 'no-store');
    // 202: a session on another replica ends when that replica acts on the request.
    return c.json({ sessionId, replicaId: result.record.replicaId, status: result.outcome === 'terminated' ? 'terminated' : 'terminating' }, 202);
  });

  return routes;
}

/** The API's view of a session: who, which instance, since when, how many bytes, where. */
function view(record: SessionRecord): Record<string, unknown> {
  return {
    sessionId: record.sessionId,
    user: record.email ? { sub: record.sub, email: record.email } : { sub: record.sub },
    instanceId: record.instanceId,
    clientIp: record.clientIp,
    replicaId: record.replicaId,
    startedAt: new Date(record.startedAt).toISOString(),
    state: record.state,
    bytesFromClient: record.bytesFromClient,
    bytesFromUpstream: record.bytesFromUpstream,
    ...(record.maxInstanceSessions === undefined ? {} : { exclusive: record.maxInstanceSessions === 1, maxInstanceSessions: record.maxInstanceSessions }),
  };
}
