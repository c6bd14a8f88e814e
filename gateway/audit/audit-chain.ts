// The hash chain that makes a trail tamper-evident: each stored record carries `prevHash` and
// `hash` = SHA-256 over the canonical JSON of the record without `hash` (so `prevHash` is
// covered). Editing, removing, inserting or reordering a record breaks a link.

import { createHash } from 'node:crypto';

/** The `prevHash` of the first record of a trail. */
export const GENESIS_HASH = '0'.repeat(64);

const HASH = /^[0-9a-f]{64}$/;

/** A record as a sink stores it: the audit record plus its chain links. */
export type ChainedRecord<T extends object = object> = T & { prevHash: string; hash: string };

/**
 * Canonical JSON: object keys sorted by UTF-16 code unit (as RFC 8785 does), no whitespace,
 * `undefined` members dropped as JSON.stringify drops them. Audit records hold only strings,
 * integers, booleans, null, objects and arrays, for which this equals RFC 8785 (JCS), so any
 * language can recompute a hash; for ASCII records `jq -cS 'del(.hash)'` prints the same bytes.
 */
export function canonicalJson(value: unknown): string {
  if (value === null || typeof value !== 'object') return JSON.stringify(value) ?? 'null';
  if (Array.isArray(value)) return `[${value.map((item) => (item === undefined ? 'null' : canonicalJson(item))).join(',')}]`;
  const entries = Object.entries(value as Record<string, unknown>)
    .filter(([, item]) => item !== undefined && typeof item !== 'function')
    .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
  return `{${entries.map(([key, item]) => `${JSON.stringify(key)}:${canonicalJson(item)}`).join(',')}}`;
}

/** SHA-256 (hex) of the canonical form of `record` without its `hash` member. */
export function hashOf(record: object): string {
  const { hash: _ignored, ...rest } = record as { hash?: unknown };
  return createHash('sha256').update(canonicalJson(rest)).digest('hex');
}

/** Links `record` after `prevHash`; returns the stored form and its one-line serialisation. */
export function linkRecord<T extends object>(record: T, prevHash: string): { record: ChainedRecord<T>; line: string } {
  const { prevHash: _p, hash: _h, ...plain } = record as T & { prevHash?: unknown; hash?: unknown };
  const withPrev = { ...plain, prevHash };
  const chained = { ...withPrev, hash: hashOf(withPrev) } as unknown as ChainedRecord<T>;
  return { record: chained, line: canonicalJson(chained) };
}

/** Whether `value` looks like a chain hash (64 lowercase hex digits). */
export function isHash(value: unknown): value is string {
  return typeof value === 'string' && HASH.test(value);
}

/** The outcome of checking one stored line against the chain so far. */
export type LinkCheck =
  | { ok: true; hash: string; record: Record<string, unknown> }
  | { ok: false; reason: string; record?: Record<string, unknown> };

/**
 * Checks one stored line: it parses to an object whose `hash` matches its contents and whose
 * `prevHash` is `expectedPrev` (undefined = accept any, for a trail whose start was trimmed).
 */
export function checkLink(line: string, expectedPrev: string | undefined): LinkCheck {
  let parsed: unknown;
  try {
    parsed = JSON.parse(line);
  } catch {
    return { ok: false, reason: 'not a complete JSON record' };
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, reason: 'not a JSON object' };
  const record = parsed as Record<string, unknown>;
  if (!isHash(record.hash) || !isHash(record.prevHash)) return { ok: false, reason: 'has no prevHash/hash chain fields', record };
  if (hashOf(record) !== record.hash) return { ok: false, reason: 'its hash does not match its contents (the record was edited)', record };
  if (expectedPrev !== undefined && record.prevHash !== expectedPrev) {
    const reason =
      record.prevHash === GENESIS_HASH
        ? 'it starts a new chain (prevHash is the genesis hash) where the previous record should continue'
        : 'its prevHash does not match the previous record (a record was removed, inserted or reordered before it)';
    return { ok: false, reason, record };
  }
  return { ok: true, hash: record.hash, record };
}
