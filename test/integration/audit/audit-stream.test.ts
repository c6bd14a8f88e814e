// The audit trail in a real Redis stream: one chain across restarts and concurrent replicas
// (compare-and-append), verified by `npm run audit -- verify --redis-stream`, which names the
// first broken entry after an edit, a deletion or a swap.

import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../gateway/audit/audit-events.js';
import { createRedisStreamSink, streamHeadKey } from '../../../gateway/audit/audit-redis-sink.js';
import { verifyStream } from '../../../gateway/audit/audit-verify.js';
import { runAuditCli } from '../../../scripts/audit.js';
import { startHarness } from '../../helpers/gateway-harness.js';

const URL = 'redis://127.0.0.1:6379';

function record(n: number, who = 'sam'): AuditRecord {
  return {
    id: `rec-${n}-${who}`,
    ts: new Date(1_700_000_000_000 + n).toISOString(),
    type: 'auth.failed',
    actor: { sub: who },
    clientIp: '192.0.2.7',
    gatewayRequestId: `req-${n}`,
    code: 'auth_invalid',
    source: 'bearer',
  };
}

async function cli(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runAuditCli(['verify', ...args], (t) => (out += t), (t) => (err += t), {});
  return { code, out, err };
}

describe('the audit trail in a Redis stream', () => {
  let redis: Redis;
  const keys: string[] = [];
  const newKey = (): string => {
    const key = `test:${randomUUID()}:audit`;
    keys.push(key);
    return key;
  };
  beforeAll(() => {
    redis = new Redis(URL);
  });
  afterAll(async () => {
    // One at a time: a stream and its head share a slot, different streams need not.
    for (const key of keys) await redis.del(key, streamHeadKey(key));
    redis.disconnect();
  });

  async function fill(key: string, records: number): Promise<void> {
    const sink = createRedisStreamSink({ redis, key, maxLen: 0, maxAgeMs: 0 });
    for (let n = 0; n < records; n++) sink.append(record(n));
    await sink.close();
  }

  async function copyStream(from: string, to: string, transform: (entries: [string, string[]][]) => [string, string[]][]): Promise<void> {
    const entries = (await redis.xrange(from, '-', '+')) as [string, string[]][];
    for (const [, fields] of transform(entries)) await redis.xadd(to, '*', ...fields);
  }

  it('keeps one chain across a restart and two replicas writing at once', async () => {
    const key = newKey();
    const first = createRedisStreamSink({ redis, key, maxLen: 0, maxAgeMs: 0 });
    for (let n = 0; n < 5; n++) first.append(record(n));
    await first.close();
    // A restarted process and a second replica: both start with a stale idea of the head.
    const a = createRedisStreamSink({ redis, key, maxLen: 0, maxAgeMs: 0 });
    const b = createRedisStreamSink({ redis, key, maxLen: 0, maxAgeMs: 0 });
    for (let n = 5; n < 45; n++) (n % 2 === 0 ? a : b).append(record(n, n % 2 === 0 ? 'a' : 'b'));
    await Promise.all([a.close(), b.close()]);
    expect(await redis.xlen(key)).toBe(45);
    const result = await verifyStream(redis, key);
    expect(result).toMatchObject({ ok: true, records: 45 });
    expect(await cli('--redis-stream', key, '--redis-url', URL)).toMatchObject({ code: 0 });
  });

  it('names the first broken entry after an edit, a deletion or a swap', async () => {
    const key = newKey();
    await fill(key, 6);
    const edited = newKey();
    await copyStream(key, edited, (entries) =>
      entries.map(([id, fields], i) => [id, i === 2 ? fields.map((f) => f.replace('"sub":"sam"', '"sub":"eve"')) : fields]),
    );
    const editedResult = await cli('--redis-stream', edited, '--redis-url', URL);
    expect(editedResult.code).toBe(1);
    expect(editedResult.err).toMatch(/record 3 .*edited/);

    const swapped = newKey();
    await copyStream(key, swapped, (entries) => [entries[0]!, entries[2]!, entries[1]!, ...entries.slice(3)]);
    const swappedResult = await cli('--redis-stream', swapped, '--redis-url', URL);
    expect(swappedResult.code).toBe(1);
    expect(swappedResult.err).toMatch(/record 2 .*reordered/);

    const entries = (await redis.xrange(key, '-', '+')) as [string, string[]][];
    await redis.xdel(key, entries[3]![0]);
    const deleted = await cli('--redis-stream', key, '--redis-url', URL);
    expect(deleted.code).toBe(1);
    expect(deleted.err).toContain(`entry ${entries[4]![0]}`);
    expect(deleted.err).toMatch(/removed/);
  });

  it('detects the newest entry removed, whether or not a record was appended after it', async () => {
    const key = newKey();
    await fill(key, 6);
    const entries = (await redis.xrange(key, '-', '+')) as [string, string[]][];
    await redis.xdel(key, entries[5]![0]);
    const removed = await cli('--redis-stream', key, '--redis-url', URL);
    expect(removed.code).toBe(1);
    expect(removed.err).toMatch(/newest records were removed/);
    expect(removed.err).toContain(entries[5]![0]);

    // The next append links to the stored head, not to what is now the last entry: the gap shows.
    const sink = createRedisStreamSink({ redis, key, maxLen: 0, maxAgeMs: 0 });
    sink.append(record(6));
    await sink.close();
    expect(await redis.xlen(key)).toBe(6);
    const appended = await cli('--redis-stream', key, '--redis-url', URL);
    expect(appended.code).toBe(1);
    expect(appended.err).toMatch(/record 6 .*removed/);
  });

  it('detects a stream emptied, or its head deleted, behind the gateway', async () => {
    const key = newKey();
    await fill(key, 3);
    const headless = newKey();
    await copyStream(key, headless, (entries) => entries);
    const noHead = await cli('--redis-stream', headless, '--redis-url', URL);
    expect(noHead.code).toBe(1);
    expect(noHead.err).toMatch(/no stored head/);
    await redis.del(key);
    const emptied = await cli('--redis-stream', key, '--redis-url', URL);
    expect(emptied.code).toBe(1);
    expect(emptied.err).toMatch(/newest records were removed/);
  });

  it('keeps the head in the stream key\'s Cluster slot', () => {
    const slot = (k: string): string => /\{([^}]+)\}/.exec(k)?.[1] ?? k;
    expect(slot(streamHeadKey('vnc-gateway:audit'))).toBe('vnc-gateway:audit');
    expect(slot(streamHeadKey('{audit}:stream'))).toBe('audit');
    expect(streamHeadKey('{audit}:stream')).toBe('{audit}:stream:head');
  });

  it('accepts a stream trimmed by retention only when told it is partial', async () => {
    const key = newKey();
    await fill(key, 8);
    await redis.xtrim(key, 'MAXLEN', 5);
    expect((await cli('--redis-stream', key, '--redis-url', URL)).code).toBe(1);
    expect(await cli('--partial', '--redis-stream', key, '--redis-url', URL)).toMatchObject({ code: 0 });
  });

  it('continues the chain when the gateway restarts on the same stream', async () => {
    const key = newKey();
    for (let run = 0; run < 2; run++) {
      const h = await startHarness({ store: 'redis', env: { AUDIT_REDIS_STREAM: key }, instances: [{ id: 'lhins-strm0001', state: 'RUNNING', vnc: { kind: 'echo' } }] });
      try {
        expect((await h.requestTicket('lhins-strm0001', await h.token())).status).toBe(201);
        expect((await h.requestTicket('lhins-strm0001', 'not-a-jwt')).status).toBe(401);
      } finally {
        await h.close();
      }
    }
    expect(await redis.xlen(key)).toBe(4);
    expect(await cli('--redis-stream', key, '--redis-url', URL)).toMatchObject({ code: 0, out: expect.stringContaining('intact: 4 records') });
  });
});
