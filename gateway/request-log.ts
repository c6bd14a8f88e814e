// HTTP request logging with request ids: every request gets an id (the `requestId` context
// variable, the `X-Request-Id` response header, and every log line about it), and one line
// when it completes. Only the path is logged, never the query string, headers or body, so no
// ticket or token can reach the diagnostic log.

import { randomUUID } from 'node:crypto';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from './logger.js';

export interface RequestLogOptions {
  logger: Logger;
  /** Paths polled by machines (probes, scrapes), logged at debug instead of info. */
  quietPaths?: readonly string[];
  now?: () => number;
  newId?: () => string;
}

// An id set by the proxy in front (nginx $request_id, a load balancer's trace id) is logged
// next to ours so the two logs can be joined; only a short plain token is believed.
const PROXY_REQUEST_ID = /^[A-Za-z0-9._:=-]{1,128}$/;

/** Hono middleware: sets `requestId`, answers with `X-Request-Id`, logs method, path, status and duration. */
export function createRequestLog(options: RequestLogOptions): MiddlewareHandler<{ Variables: { requestId: string } }> {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const quiet = new Set(options.quietPaths ?? ['/healthz', '/readyz', '/metrics']);
  return async function requestLog(c, next) {
    const requestId = newId();
    c.set('requestId', requestId);
    c.header('X-Request-Id', requestId);
    const started = now();
    await next();
    const incoming = c.req.header('x-request-id');
    const line = {
      requestId,
      ...(incoming !== undefined && PROXY_REQUEST_ID.test(incoming) ? { proxyRequestId: incoming } : {}),
      method: c.req.method,
      path: c.req.path,
      status: c.res.status,
      durationMs: now() - started,
    };
    if (quiet.has(c.req.path)) options.logger.debug(line, 'http request');
    else options.logger.info(line, 'http request');
  };
}
