// GET /api/v1/audit: admins only; filters by user, instance, type and time; cursor pages that
// cover every record once; JSON or JSON lines. Read from the audit file and from the stream.

import { randomUUID } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { streamHeadKey } from '../../../gateway/audit/audit-redis-sink.js';
import { startHarness, type Harness } from '../../helpers/gateway-harness.js';

const POLICY = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - users: [ada@example.com]
    instances: ["*"]
    role: admin
`;

type Row = Record<string, unknown> & { id: string; type: string; ts: string; instanceId?: string; actor: { sub: string } | null };

describe.each(['file', 'redisStream'] as const)('the audit query API reading the %s', (source) => {
  let h: Harness;
  let adminToken: string;
  const streamKey = `test:${randomUUID()}:audit`;

  beforeAll(async () => {
    const env: Record<string, string> =
      source === 'file' ? { AUDIT_FILE: join(mkdtempSync(join(tmpdir(), 'audit-query-')), 'audit.log') } : { AUDIT_REDIS_STREAM: streamKey };
    h = await startHarness({ store: source === 'file' ? 'memory' : 'redis', env, policyYaml: POLICY, instances: [] });
    adminToken = await h.idp.sign({ sub: 'ada', email: 'ada@example.com', groups: [] });
    for (let i = 0; i < 3; i++) expect((await h.requestTicket('lhins-qry00001', await h.token('sam'))).status).toBe(201);
    for (let i = 0; i < 2; i++) expect((await h.requestTicket('lhins-qry00002', await h.token('kim'))).status).toBe(201);
    expect((await h.requestTicket('lhins-qry00001', await h.idp.sign({ sub: 'mallory', groups: [] }))).status).toBe(403);
    expect((await h.requestTicket('lhins-qry00001', 'not-a-jwt')).status).toBe(401);
    await h.gateway.audit.flush();
  });
  afterAll(async () => {
    await h?.close();
    if (source === 'redisStream') {
      const redis = new Redis('redis://127.0.0.1:6379');
      await redis.del(streamKey, streamHeadKey(streamKey));
      redis.disconnect();
    }
  });

  async function query(params: string, token: string | null = adminToken): Promise<{ status: number; body: { records: Row[]; nextCursor: string | null; error?: { code: string; message: string } } }> {
    const res = await fetch(`${h.gateway.url}/api/v1/audit${params}`, { headers: token === null ? {} : { Authorization: `Bearer ${token}` } });
    return { status: res.status, body: (await res.json()) as never };
  }

  it('refuses non-admins with 403 and callers without a token with 401', async () => {
    const sam = await query('', await h.token('sam'));
    expect(sam.status).toBe(403);
    expect(sam.body.error?.code).toBe('access_denied');
    expect((await query('', null)).status).toBe(401);
    expect((await query('', 'not-a-jwt')).status).toBe(401);
  });

  it('returns every record, chained, to an admin', async () => {
    const all = await query('');
    expect(all.status).toBe(200);
    const types = all.body.records.map((r) => r.type);
    expect(types.filter((t) => t === 'ticket.issued')).toHaveLength(5);
    expect(types.filter((t) => t === 'session.denied')).toHaveLength(1);
    // The refused ticket call, plus the refused audit queries of the test before (every API refusal is audited).
    expect(types.filter((t) => t === 'auth.failed').length).toBeGreaterThanOrEqual(1);
    expect(types.every((t) => ['ticket.issued', 'session.denied', 'auth.failed'].includes(t))).toBe(true);
    expect(all.body.nextCursor).toBeNull();
    expect(all.body.records.every((r) => typeof r.hash === 'string' && typeof r.prevHash === 'string')).toBe(true);
  });

  it('filters by user, instance, type and time range', async () => {
    const kim = await query('?sub=kim');
    expect(kim.body.records.map((r) => r.actor?.sub)).toEqual(['kim', 'kim']);
    expect((await query('?sub=KIM@example.com')).body.records).toHaveLength(2);
    const issued = await query('?instanceId=lhins-qry00001&type=ticket.issued');
    expect(issued.body.records).toHaveLength(3);
    expect(issued.body.records.every((r) => r.type === 'ticket.issued' && r.instanceId === 'lhins-qry00001')).toBe(true);
    const refusals = (await query('?type=session.denied,auth.failed')).body.records.map((r) => r.type);
    expect(refusals.filter((t) => t === 'session.denied')).toHaveLength(1);
    expect(refusals.length).toBeGreaterThanOrEqual(2);
    expect(refusals.every((t) => t === 'session.denied' || t === 'auth.failed')).toBe(true);
    const all = (await query('')).body.records;
    const pivot = all[3]!.ts;
    const since = (await query(`?since=${encodeURIComponent(pivot)}`)).body.records;
    expect(since.every((r) => r.ts >= pivot)).toBe(true);
    expect(since.length).toBe(all.filter((r) => r.ts >= pivot).length);
    const until = (await query(`?until=${encodeURIComponent(pivot)}`)).body.records;
    expect(until.length).toBe(all.filter((r) => r.ts <= pivot).length);
    expect((await query('?until=2000-01-01T00:00:00Z')).body.records).toHaveLength(0);
  });

  it('pages with a cursor through every matching record exactly once', async () => {
    const everything = (await query('')).body.records.map((r) => r.id);
    const seen: string[] = [];
    let cursor: string | null = null;
    let pages = 0;
    do {
      const page: Awaited<ReturnType<typeof query>> = await query(`?limit=3${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
      expect(page.status).toBe(200);
      expect(page.body.records.length).toBeLessThanOrEqual(3);
      seen.push(...page.body.records.map((r) => r.id));
      cursor = page.body.nextCursor;
      pages++;
    } while (cursor !== null && pages < 10);
    expect(seen).toEqual(everything);
    expect(pages).toBeGreaterThanOrEqual(3);
  });

  it('exports JSON lines with the next cursor in a header', async () => {
    const res = await fetch(`${h.gateway.url}/api/v1/audit?format=jsonl&limit=4`, { headers: { Authorization: `Bearer ${adminToken}` } });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/x-ndjson');
    const lines = (await res.text()).trim().split('\n');
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => (JSON.parse(l) as Row).type)).toContain('ticket.issued');
    expect(res.headers.get('x-next-cursor')).toBeTruthy();
  });

  it('refuses bad parameters with 400', async () => {
    for (const params of ['?limit=1001', '?limit=0', '?since=yesterday', '?format=csv', '?cursor=bm9wZQ', '?color=red', '?since=2030-01-01T00:00:00Z&until=2020-01-01T00:00:00Z']) {
      const res = await query(params);
      expect(res.status, params).toBe(400);
      expect(res.body.error?.code).toBe('bad_request');
    }
  });
});

describe('the audit query API without a queryable trail', () => {
  it('answers 404 with a hint when neither AUDIT_REDIS_STREAM nor AUDIT_FILE is set', async () => {
    const h = await startHarness({ store: 'memory', policyYaml: POLICY, instances: [] });
    try {
      const res = await fetch(`${h.gateway.url}/api/v1/audit`, { headers: { Authorization: `Bearer ${await h.idp.sign({ sub: 'ada', email: 'ada@example.com', groups: [] })}` } });
      expect(res.status).toBe(404);
      expect(await res.text()).toContain('AUDIT_REDIS_STREAM or AUDIT_FILE');
    } finally {
      await h.close();
    }
  });
});
