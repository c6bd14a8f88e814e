// GET /api/v1/instances: the instance picker's list for the calling user. Authenticated from
// the same token sources as the ticket API; read-only, so a same-origin page may call it
// without an Origin header, but a foreign page never.

import { Hono } from 'hono';
import type { Policy } from '../../auth/policy.js';
import { GatewayError } from '../errors.js';
import type { RequestAuthenticator } from '../request-auth.js';
import type { InstanceLister } from './instance-list.js';

export interface InstanceRoutesOptions {
  auth: RequestAuthenticator;
  policy: () => Policy;
  lister: InstanceLister;
}

/** The routes, to mount at `/`. Errors are GatewayErrors for the app's error handler. */
export function createInstanceRoutes(options: InstanceRoutesOptions): Hono {
  const app = new Hono();
  app.get('/api/v1/instances', async (c) => {
    const token = options.auth.findToken((name) => c.req.header(name));
    if (token === undefined) throw new GatewayError('auth_required');
    // Browsers omit Origin on same-origin GETs; when one is sent (any cross-origin fetch) it
    // must be allowed. Fetch metadata covers the requests that carry no Origin at all.
    const origin = c.req.header('origin');
    if (origin !== undefined) options.auth.checkOrigin(origin, token.source, c.req.header('host'));
    const site = c.req.header('sec-fetch-site');
    if (site !== undefined && site !== 'same-origin' && site !== 'none' && token.source !== 'bearer') {
      throw new GatewayError('origin_forbidden', { cause: new Error(`sec-fetch-site ${site} for ${token.source} credentials`) });
    }
    const identity = await options.auth.verify(token);
    const listing = await options.lister.list(options.policy(), identity);
    c.header('Cache-Control', 'no-store');
    return c.json(listing);
  });
  return app;
}
