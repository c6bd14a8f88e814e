// DEMO ONLY: a sign-in route that hands the visitor a JWT cookie for a fixed demo user, signed
// by the local IdP. It stands in for the company's SSO; the gateway verifies the cookie exactly
// as it would a real IdP's token. Never mounted by gateway/main.ts.

import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import type { LocalIdp } from './local-idp.js';

export interface DemoSignInOptions {
  idp: LocalIdp;
  cookieName: string;
  user: { sub: string; email: string; groups: string[] };
  /** Where the browser lands after signing in. */
  landingPath: string;
  tokenLifetimeSeconds?: number;
}

export function createDemoSignIn(options: DemoSignInOptions): Hono<{ Bindings: HttpBindings }> {
  const app = new Hono<{ Bindings: HttpBindings }>();
  const lifetime = options.tokenLifetimeSeconds ?? 8 * 3600;
  app.get('/demo/sign-in', async (c) => {
    const token = await options.idp.sign(options.user, { expiresInSeconds: lifetime });
    // HttpOnly: page scripts never see the token. SameSite=Lax: sent on the top-level navigation
    // to the console, not on cross-site subrequests.
    c.header('Set-Cookie', `${options.cookieName}=${token}; Path=/; HttpOnly; SameSite=Lax; Max-Age=${lifetime}`);
    c.header('Cache-Control', 'no-store');
    return c.redirect(options.landingPath, 303);
  });
  app.get('/demo/sign-out', (c) => {
    c.header('Set-Cookie', `${options.cookieName}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0`);
    return c.text('Signed out of the demo.');
  });
  return app;
}
