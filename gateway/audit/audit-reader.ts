// Reads the stored trail back for the query API: from the Redis stream when configured,
// else from the audit file. Filters by user, instance, type and time; pages with an opaque
// cursor (the stream entry id, or the file's byte offset). Each request scans a bounded
// number of records, so a sparse filter over a long trail answers with a cursor, not a stall.

import { open } from 'node:fs/promises';
import type { RedisConnection } from '../state/redis-client.js';

export interface AuditFilter {
  /** Matches the actor's `sub` exactly, or their email ignoring case. */
  sub?: string;
  instanceId?: string;
  /** Any of these record types. */
  types?: readonly string[];
  /** Inclusive bounds on `ts`, in ms since the epoch. */
  sinceMs?: number;
  untilMs?: number;
}

export interface AuditQuery extends AuditFilter {
  limit: number;
  cursor?: string;
}

export interface AuditPage {
  records: Record<string, unknown>[];
  /** Pass back as `cursor` for the next page; null when the trail was read to its end. */
  nextCursor: string | null;
}

export interface AuditReader {
  readonly source: 'redisStream' | 'file';
  /** Throws InvalidCursorError for a cursor this reader did not make. */
  query(query: AuditQuery): Promise<AuditPage>;
}

export class InvalidCursorError extends Error {
  override readonly name = 'InvalidCursorError';
}

/** Records examined per request at most, matching or not. */
const SCAN_BUDGET = 20_000;

export function matchesFilter(record: Record<string, unknown>, filter: AuditFilter): boolean {
  if (filter.types !== undefined && !filter.types.includes(String(record.type))) return false;
  if (filter.instanceId !== undefined && record.instanceId !== filter.instanceId) return false;
  if (filter.sub !== undefined) {
    const actor = record.actor as { sub?: unknown; email?: unknown } | null | undefined;
    const bySub = actor?.sub === filter.sub;
    const byEmail = typeof actor?.email === 'string' && actor.email.toLowerCase() === filter.sub.toLowerCase();
    if (!bySub && !byEmail) return false;
  }
  if (filter.sinceMs !== undefined || filter.untilMs !== undefined) {
    const ts = Date.parse(String(record.ts));
    if (Number.isNaN(ts)) return false;
    if (filter.sinceMs !== undefined && ts < filter.sinceMs) return false;
    if (filter.untilMs !== undefined && ts > filter.untilMs) return false;
  }
  return true;
}

function encodeCursor(kind: string, position: string): string {
  return Buffer.from(`${kind}:${position}`).toString('base64url');
}

function decodeCursor(cursor: string, kind: string): string {
  const text = Buffer.from(cursor, 'base64url').toString('utf8');
  if (!text.startsWith(`${kind}:`)) throw new InvalidCursorError('cursor was not issued by this trail');
  return text.slice(kind.length + 1);
}

export function createStreamReader(options: { redis: RedisConnection; key: string }): AuditReader {
  const { redis, key } = options;
  return {
    source: 'redisStream',
    async query(query) {
      let start: string;
      if (query.cursor !== undefined) {
        const id = decodeCursor(query.cursor, 's');
        if (!/^\d+-\d+$/.test(id)) throw new InvalidCursorError('malformed cursor');
        start = `(${id}`;
      } else if (query.sinceMs !== undefined) {
        // Entry ids are Redis' clock at append time, never before the record was built; a
        // minute's margin covers clock skew between gateway hosts and Redis.
        start = String(Math.max(0, query.sinceMs - 60_000));
      } else {
        start = '-';
      }
      const records: Record<string, unknown>[] = [];
      let scanned = 0;
      let lastId: string | undefined;
      while (scanned < SCAN_BUDGET) {
        const count = Math.min(500, SCAN_BUDGET - scanned);
        const entries = (await redis.xrange(key, start, '+', 'COUNT', count)) as [string, string[]][];
        for (const [id, fields] of entries) {
          scanned++;
          lastId = id;
          const line = fieldOf(fields, 'record');
          const record = line === undefined ? undefined : parseRecord(line);
          if (record !== undefined && matchesFilter(record, query)) {
            records.push(record);
            if (records.length >= query.limit) return { records, nextCursor: encodeCursor('s', id) };
          }
        }
        if (entries.length < count) return { records, nextCursor: null };
        start = `(${lastId}`;
      }
      return { records, nextCursor: lastId === undefined ? null : encodeCursor('s', lastId) };
    },
  };
}

/**
 * Reads the audit file at `path` as it is now: rotated files (audit.log.1, compressed ones …)
 * are not read, since their names and formats are logrotate's choice; the README's route
 * table says so and points to the stream for fleet-wide, long-range queries.
 */
export function createFileReader(options: { path: string }): AuditReader {
  const { path } = options;
  return {
    source: 'file',
    async query(query) {
      let offset = 0;
      if (query.cursor !== undefined) {
        const text = decodeCursor(query.cursor, 'f');
        if (!/^\d+$/.test(text)) throw new InvalidCursorError('malformed cursor');
        offset = Number(text);
      }
      const records: Record<string, unknown>[] = [];
      let handle;
      try {
        handle = await open(path, 'r');
      } catch (error) {
        if ((error as NodeJS.ErrnoException).code === 'ENOENT') return { records, nextCursor: null };
        throw error;
      }
      try {
        const size = (await handle.stat()).size;
        // After a rotation the cursor may point past the new, shorter file: start it over.
        if (offset > size) offset = 0;
        let scanned = 0;
        let carry = Buffer.alloc(0);
        let position = offset;
        const chunk = Buffer.alloc(256 * 1024);
        for (;;) {
          const { bytesRead } = await handle.read(chunk, 0, chunk.length, position);
          if (bytesRead === 0) break;
          position += bytesRead;
          let data = Buffer.concat([carry, chunk.subarray(0, bytesRead)]);
          let lineStart = position - data.length;
          let newline: number;
          while ((newline = data.indexOf(0x0a)) !== -1) {
            const line = data.subarray(0, newline).toString('utf8');
            data = data.subarray(newline + 1);
            lineStart += newline + 1;
            scanned++;
            const record = parseRecord(line);
            if (record !== undefined && matchesFilter(record, query)) {
              records.push(record);
              if (records.length >= query.limit) return { records, nextCursor: encodeCursor('f', String(lineStart)) };
            }
            if (scanned >= SCAN_BUDGET) return { records, nextCursor: encodeCursor('f', String(lineStart)) };
          }
          carry = Buffer.from(data);
        }
        // A trailing partial line is a write in progress: it is read on a later page.
        return { records, nextCursor: null };
      } finally {
        await handle.close();
      }
    },
  };
}

function fieldOf(fields: readonly string[], name: string): string | undefined {
  for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === name) return fields[i + 1];
  return undefined;
}

function parseRecord(line: string): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(line);
    return value !== null && typeof value === 'object' && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
