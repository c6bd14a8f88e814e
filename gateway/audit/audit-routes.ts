// GET /api/v1/audit: the audit trail for admins (a policy rule with role admin), filtered by
// user, instance, type and time range, cursor-paginated, as JSON or as JSON lines for export.

import { Hono } from 'hono';
import type { HttpBindings } from '@hono/node-server';
import { isAdmin, type Policy } from '../../auth/policy.js';
import { GatewayError } from '../errors.js';
import type { Logger } from '../logger.js';
import type { HttpAuthenticate } from '../http-authenticate.js';
import { InvalidCursorError, type AuditReader, type AuditQuery } from './audit-reader.js';

export interface AuditRoutesDeps {
  authenticate: HttpAuthenticate;
  policy: () => Policy;
  /** Undefined when neither AUDIT_REDIS_STREAM nor AUDIT_FILE is configured. */
  reader: AuditReader | undefined;
  logger: Logger;
}

export const MAX_AUDIT_PAGE = 1000;
const DEFAULT_AUDIT_PAGE = 100;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2}(\.\d{1,9})?)?(Z|[+-]\d{2}:\d{2})$/;
const KNOWN_PARAMS = new Set(['sub', 'instanceId', 'type', 'since', 'until', 'limit', 'cursor', 'format']);

/** The audit query routes, mounted by app.ts; errors go to the app's error handler. */
export function createAuditRoutes(deps: AuditRoutesDeps): Hono<{ Bindings: HttpBindings }> {
  const routes = new Hono<{ Bindings: HttpBindings }>();
  routes.get('/api/v1/audit', async (c) => {
    // A read with no side effects, answered without CORS headers.
    const identity = await deps.authenticate(c, { stateChanging: false });
    if (!isAdmin(deps.policy(), identity)) {
      throw new GatewayError('access_denied', { message: 'Only admins may read the audit trail.', cause: new Error(`${identity.sub} is not an admin`) });
    }
    if (deps.reader === undefined) {
      throw new GatewayError('not_found', { message: 'The audit trail is not queryable here: set AUDIT_REDIS_STREAM or AUDIT_FILE.' });
    }
    const params = new URL(c.req.url).searchParams;
    const { query, format } = parseQuery(params);
    let page;
    try {
      page = await deps.reader.query(query);
    } catch (error) {
      if (error instanceof InvalidCursorError) throw new GatewayError('bad_request', { message: 'The cursor is not valid for this trail.' });
      throw new GatewayError('state_unavailable', { message: 'The audit trail cannot be read right now; try again later.', cause: error });
    }
    deps.logger.info({ sub: identity.sub, source: deps.reader.source, returned: page.records.length }, 'audit trail queried');
    c.header('Cache-Control', 'no-store');
    if (format === 'jsonl') {
      if (page.nextCursor !== null) c.header('X-Next-Cursor', page.nextCursor);
      c.header('Content-Type', 'application/x-ndjson; charset=utf-8');
      return c.body(page.records.map((record) => `${JSON.stringify(record)}\n`).join(''));
    }
    return c.json({ records: page.records, nextCursor: page.nextCursor });
  });
  return routes;
}

function parseQuery(params: URLSearchParams): { query: AuditQuery; format: 'json' | 'jsonl' } {
  const problems: string[] = [];
  for (const name of new Set(params.keys())) {
    if (!KNOWN_PARAMS.has(name)) problems.push(`unknown parameter ${name}`);
    else if (params.getAll(name).length > 1) problems.push(`${name} given more than once`);
  }
  const text = (name: string): string | undefined => {
    const value = params.get(name);
    if (value === null || value === '') return undefined;
    if (value.length > 512) problems.push(`${name} is too long`);
    return value;
  };
  const time = (name: string): number | undefined => {
    const value = text(name);
    if (value === undefined) return undefined;
    const ms = Date.parse(value);
    if (!ISO_TIME.test(value) || Number.isNaN(ms)) {
      problems.push(`${name} must be an ISO-8601 time such as 2026-01-31T12:00:00Z`);
      return undefined;
    }
    return ms;
  };
  const limitText = text('limit');
  let limit = DEFAULT_AUDIT_PAGE;
  if (limitText !== undefined) {
    if (!/^\d+$/.test(limitText) || Number(limitText) < 1 || Number(limitText) > MAX_AUDIT_PAGE) problems.push(`limit must be a whole number from 1 to ${MAX_AUDIT_PAGE}`);
    else limit = Number(limitText);
  }
  const format = text('format') ?? 'json';
  if (format !== 'json' && format !== 'jsonl') problems.push('format must be json or jsonl');
  const types = text('type')?.split(',').map((t) => t.trim()).filter((t) => t !== '');
  const sinceMs = time('since');
  const untilMs = time('until');
  if (sinceMs !== undefined && untilMs !== undefined && sinceMs > untilMs) problems.push('since is after until');
  const sub = text('sub');
  const instanceId = text('instanceId');
  const cursor = text('cursor');
  if (problems.length > 0) throw new GatewayError('bad_request', { message: `Invalid audit query: ${problems.join('; ')}.` });
  return {
    query: {
      limit,
      ...(sub === undefined ? {} : { sub }),
      ...(instanceId === undefined ? {} : { instanceId }),
      ...(types === undefined || types.length === 0 ? {} : { types }),
      ...(sinceMs === undefined ? {} : { sinceMs }),
      ...(untilMs === undefined ? {} : { untilMs }),
      ...(cursor === undefined ? {} : { cursor }),
    },
    format: format as 'json' | 'jsonl',
  };
}
