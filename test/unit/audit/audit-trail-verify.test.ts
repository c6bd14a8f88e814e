// The file trail's hash chain end to end: written by the real file sink (restart, rotation by
// reopen), checked by `npm run audit -- verify`, and every kind of tampering is named.

import { mkdtempSync, readFileSync, renameSync, writeFileSync, truncateSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../gateway/audit/audit-events.js';
import { canonicalJson, GENESIS_HASH, hashOf } from '../../../gateway/audit/audit-chain.js';
import { AuditFileCorruptError, openFileSink } from '../../../gateway/audit/audit-file-sink.js';
import { createAuditLog } from '../../../gateway/audit/audit-log.js';
import { runAuditCli } from '../../../scripts/audit.js';

function record(n: number): AuditRecord {
  return {
    id: `rec-${n}`,
    ts: new Date(1_700_000_000_000 + n * 1000).toISOString(),
    type: 'ticket.issued',
    actor: { sub: `user${n % 3}`, email: `user${n % 3}@example.com` },
    instanceId: `lhins-test${String(n).padStart(4, '0')}`,
    clientIp: '192.0.2.1',
    gatewayRequestId: `req-${n}`,
    role: 'operator',
    expiresAt: new Date(1_700_000_030_000 + n * 1000).toISOString(),
  };
}

async function writeTrail(path: string, from: number, count: number): Promise<void> {
  const sink = await openFileSink({ path, batchDelayMs: 1 });
  for (let n = from; n < from + count; n++) sink.append(record(n));
  await sink.close();
}

async function verify(...args: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const code = await runAuditCli(['verify', ...args], (t) => (out += t), (t) => (err += t));
  return { code, out, err };
}

function lines(path: string): string[] {
  return readFileSync(path, 'utf8').split('\n').filter((l) => l !== '');
}

describe('the audit hash chain', () => {
  const dir = mkdtempSync(join(tmpdir(), 'audit-chain-'));

  it('serialises canonically: sorted keys, no whitespace, nested objects too', () => {
    expect(canonicalJson({ b: 1, a: { d: 'x', c: [2, { f: null, e: true }] }, u: undefined })).toBe('{"a":{"c":[2,{"e":true,"f":null}],"d":"x"},"b":1}');
    expect(hashOf({ a: 1, hash: 'ignored' })).toBe(hashOf({ a: 1 }));
  });

  it('accepts an intact trail written across a restart and chained from the genesis hash', async () => {
    const path = join(dir, 'restart.log');
    await writeTrail(path, 0, 5);
    await writeTrail(path, 5, 5);
    const stored = lines(path).map((l) => JSON.parse(l) as { prevHash: string; hash: string });
    expect(stored).toHaveLength(10);
    expect(stored[0]!.prevHash).toBe(GENESIS_HASH);
    expect(stored[5]!.prevHash).toBe(stored[4]!.hash);
    const result = await verify(path);
    expect(result).toMatchObject({ code: 0 });
    expect(result.out).toContain('intact: 10 records');
  });

  it('accepts a trail spanning a rotation (files given oldest first) and refuses them out of order', async () => {
    const path = join(dir, 'rotate.log');
    const sink = await openFileSink({ path, batchDelayMs: 1 });
    for (let n = 0; n < 4; n++) sink.append(record(n));
    await sink.flush();
    renameSync(path, `${path}.1`);
    await sink.reopen();
    for (let n = 4; n < 8; n++) sink.append(record(n));
    await sink.close();
    expect(lines(`${path}.1`)).toHaveLength(4);
    expect(lines(path)).toHaveLength(4);
    expect((await verify(`${path}.1`, path)).code).toBe(0);
    const alone = await verify(path);
    expect(alone.code).toBe(1);
    expect(alone.err).toContain('earlier records are missing');
    expect((await verify('--partial', path)).code).toBe(0);
    expect((await verify(path, `${path}.1`)).code).toBe(1);
  });

  const tamperings: ReadonlyArray<readonly [string, (all: string[]) => string[], RegExp, number]> = [
    ['an edited field', (all) => all.map((l, i) => (i === 3 ? l.replace('"sub":"user0"', '"sub":"mallory"') : l)), /record 4 .*edited/, 4],
    ['a deleted record', (all) => all.filter((_, i) => i !== 3), /record 4 .*removed, inserted or reordered/, 4],
    ['two swapped records', (all) => all.map((l, i) => (i === 2 ? all[3]! : i === 3 ? all[2]! : l)), /record 3 .*removed, inserted or reordered/, 3],
    ['a record whose hash was recomputed after an edit', (all) => all.map((l, i) => {
      if (i !== 2) return l;
      const r = JSON.parse(l) as Record<string, unknown>;
      r.clientIp = '203.0.113.9';
      r.hash = hashOf(r);
      return canonicalJson(r);
    }), /record 4 .*removed, inserted or reordered/, 4],
  ];

  it.each(tamperings)('names the first broken record after %s', async (_what, tamper, message, index) => {
    const path = join(dir, `tamper-${index}-${Math.random().toString(36).slice(2)}.log`);
    await writeTrail(path, 0, 6);
    expect((await verify(path)).code).toBe(0);
    writeFileSync(path, `${tamper(lines(path)).join('\n')}\n`);
    const result = await verify(path);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(message);
    expect(result.err).toContain(`${path}:${index}`);
  });

  it('detects a truncated last line, and the sink refuses to continue after one', async () => {
    const path = join(dir, 'truncated.log');
    await writeTrail(path, 0, 4);
    truncateSync(path, statSync(path).size - 10);
    const result = await verify(path);
    expect(result.code).toBe(1);
    expect(result.err).toMatch(/record 4 .*truncated/);
    await expect(openFileSink({ path })).rejects.toBeInstanceOf(AuditFileCorruptError);
  });

  it('fans one record out to several sinks, each with its own chain', async () => {
    const a: string[] = [];
    const path = join(dir, 'fanout.log');
    await writeTrail(path, 100, 2);
    const file = await openFileSink({ path, batchDelayMs: 1 });
    const log = createAuditLog({ sink: { write: (l) => void a.push(l) }, sinks: [file], newId: () => 'same-id', now: () => 0 });
    log.record({ type: 'auth.failed', actor: null, clientIp: '192.0.2.1', gatewayRequestId: 'g', code: 'auth_required', source: 'none' });
    await log.close();
    const fromStdout = JSON.parse(a[0]!) as { prevHash: string; id: string };
    const fromFile = JSON.parse(lines(path)[2]!) as { prevHash: string; id: string };
    expect(fromStdout.id).toBe(fromFile.id);
    expect(fromStdout.prevHash).toBe(GENESIS_HASH);
    expect(fromFile.prevHash).not.toBe(GENESIS_HASH);
    expect((await verify(path)).code).toBe(0);
  });

  it('exits 2 with usage for a bad command line', async () => {
    expect((await verify()).code).toBe(2);
    expect(await runAuditCli(['check'], () => undefined, () => undefined)).toBe(2);
  });
});
