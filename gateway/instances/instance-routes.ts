// GET /api/v1/instances: the instance picker's list for the calling user. Authenticated from
// the same token sources as the ticket API; read-only, so a same-origin page may call it
// without an Origin header, but a foreign page never.

import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { Policy } from '../../auth/policy.js';
import { GatewayError } from '../errors.js';
import type { HttpAuthenticate } from '../http-authenticate.js';
import type { InstanceLister } from './instance-list.js';

export interface InstanceRoutesOptions {
  authenticate: HttpAuthenticate;
  policy: () => Policy;
  lister: InstanceLister;
}

/** The routes, to mount at `/`. Errors are GatewayErrors for the app's error handler. */
export function createInstanceRoutes(options: InstanceRoutesOptions): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  app.get('/api/v1/instances', async (c) => {
    const identity = await options.authenticate(c, { stateChanging: false });
    const listing = await options.lister.list(options.policy(), identity);
    c.header('Cache-Control', 'no-store');
    return c.json(listing);
  });
  return app;
}
