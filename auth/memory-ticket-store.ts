// An in-process TicketStore for a single replica (REDIS_URL unset) and for tests.

import { GatewayError } from '../gateway/errors.js';
import type { TicketStore } from './ticket-store.js';

export interface MemoryTicketStoreOptions {
  now?: () => number;
  /** Expired entries are swept at most this often, on writes. Default 10 000. */
  sweepIntervalMs?: number;
  /** Beyond this many live tickets, `save` fails with `state_unavailable`. Default 100 000. */
  maxEntries?: number;
}

/** A TicketStore in a Map, plus `size()` for tests and metrics. */
export interface MemoryTicketStore extends TicketStore {
  /** Entries held, including expired ones not yet swept. */
  size(): number;
}

/**
 * Creates a memory store. Expiry is checked on every `take`; expired entries are removed by a
 * sweep that runs lazily on `save` (no timer to unref or stop), so the map stays bounded by
 * the tickets issued in one TTL plus one sweep interval.
 */
export function createMemoryTicketStore(options: MemoryTicketStoreOptions = {}): MemoryTicketStore {
  const { now = Date.now, sweepIntervalMs = 10_000, maxEntries = 100_000 } = options;
  if (!Number.isFinite(sweepIntervalMs) || sweepIntervalMs < 0) throw new RangeError('sweepIntervalMs must be a non-negative number');
  if (!Number.isInteger(maxEntries) || maxEntries <= 0) throw new RangeError('maxEntries must be a positive integer');
  const entries = new Map<string, { value: string; expiresAt: number }>();
  let lastSweep = now();

  function sweep(at: number): void {
    for (const [key, entry] of entries) if (entry.expiresAt <= at) entries.delete(key);
    lastSweep = at;
  }

  return {
    async save(key: string, value: string, ttlMs: number): Promise<void> {
      if (!Number.isFinite(ttlMs) || ttlMs <= 0) throw new RangeError('ttlMs must be a positive number');
      const at = now();
      if (at - lastSweep >= sweepIntervalMs || entries.size >= maxEntries) sweep(at);
      // Refuse rather than grow without bound; a ticket not stored is never handed out.
      if (entries.size >= maxEntries && !entries.has(key)) {
        throw new GatewayError('state_unavailable', { cause: new Error(`memory ticket store is full (${maxEntries})`) });
      }
      entries.set(key, { value, expiresAt: at + ttlMs });
    },

    async take(key: string): Promise<string | undefined> {
      const entry = entries.get(key);
      if (entry === undefined) return undefined;
      // Delete before the expiry check, so an expired entry is gone either way. JavaScript
      // runs this synchronously: no other take() can observe the entry in between.
      entries.delete(key);
      return entry.expiresAt > now() ? entry.value : undefined;
    },

    size(): number {
      return entries.size;
    },
  };
}
