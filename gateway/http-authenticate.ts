// Who is calling an HTTP API route, decided the same way on every route: the per-IP brake,
// the token from its configured sources, the Origin rules, then verification — with every
// refusal audited and every invalid credential counted against the caller's address.

import { randomUUID } from 'node:crypto';
import type { HttpBindings } from '@hono/node-server';
import type { Identity } from '../auth/identity.js';
import type { AuditLog } from './audit/audit-log.js';
import type { AuthFailureGuard } from './auth-failure-guard.js';
import type { ClientIpResolver } from './client-ip.js';
import { GatewayError, isGatewayError } from './errors.js';
import type { RequestAuthenticator } from './request-auth.js';

/** The parts of a Hono context this needs (request headers, the Node socket, the request id). */
export interface HttpCallContext {
  req: { header(name: string): string | undefined };
  env: HttpBindings;
  var: object;
}

export interface HttpAuthRequest {
  instanceId?: string;
  /**
   * POST/DELETE: a browser-borne credential (cookie, proxy header) must carry an allowed
   * Origin (CSRF). Reads: an Origin, when sent, must be allowed, and fetch metadata marking a
   * cross-site request refuses browser-borne credentials (same-origin GETs carry no Origin).
   */
  stateChanging: boolean;
  /**
   * A top-level page load (the console's HTML): only "is this visitor signed in", so no Origin
   * or fetch-metadata rule applies — a link from another site must open the console, and the
   * page carries no data. The brake, verification and audit apply as everywhere else, so the
   * page is no free oracle for trying tokens.
   */
  page?: boolean;
}

export type HttpAuthenticate = (c: HttpCallContext, request: HttpAuthRequest) => Promise<Identity>;

export interface HttpAuthenticatorOptions {
  auth: RequestAuthenticator;
  audit: AuditLog;
  clientIp: ClientIpResolver;
  authFailures?: AuthFailureGuard;
}

export function createHttpAuthenticator(options: HttpAuthenticatorOptions): HttpAuthenticate {
  const { auth, audit, authFailures } = options;
  return async function authenticate(c, request) {
    const header = (name: string): string | undefined => c.req.header(name);
    const clientIp = options.clientIp(c.env.incoming.socket.remoteAddress, header('x-forwarded-for'));
    const requestId = (c.var as { requestId?: unknown }).requestId;
    const base = {
      actor: null,
      clientIp,
      gatewayRequestId: typeof requestId === 'string' ? requestId : randomUUID(),
      ...(request.instanceId === undefined ? {} : { instanceId: request.instanceId }),
    };
    try {
      authFailures?.check(clientIp);
    } catch (error) {
      if (isGatewayError(error)) audit.record({ type: 'ratelimit.exceeded', ...base, scope: 'auth', retryAfter: error.retryAfterSeconds ?? 1 });
      throw error;
    }
    const token = auth.findToken(header);
    if (token === undefined) {
      audit.record({ type: 'auth.failed', ...base, code: 'auth_required', source: 'none' });
      throw new GatewayError('auth_required');
    }
    if (request.page !== true) {
      try {
        const origin = header('origin');
        if (request.stateChanging || origin !== undefined) {
          auth.checkOrigin(origin, token.source, header('host'), { socket: c.env.incoming.socket, forwardedProto: header('x-forwarded-proto') });
        }
        const site = header('sec-fetch-site');
        if (!request.stateChanging && site !== undefined && site !== 'same-origin' && site !== 'none' && token.source !== 'bearer') {
          throw new GatewayError('origin_forbidden', { cause: new Error(`sec-fetch-site ${site} for ${token.source} credentials`) });
        }
      } catch (error) {
        if (isGatewayError(error)) audit.record({ type: 'auth.failed', ...base, code: error.code, source: token.source });
        throw error;
      }
    }
    try {
      return await auth.verify(token);
    } catch (error) {
      if (!isGatewayError(error)) throw error;
      audit.record({ type: 'auth.failed', ...base, code: error.code, source: token.source });
      // Past the per-IP threshold the answer is 429, so a guesser learns nothing more.
      const limited = error.code === 'auth_invalid' ? await authFailures?.recordFailure(clientIp) : undefined;
      if (limited !== undefined) {
        audit.record({ type: 'ratelimit.exceeded', ...base, scope: 'auth', retryAfter: limited.retryAfterSeconds ?? 1 });
        throw limited;
      }
      throw error;
    }
  };
}
