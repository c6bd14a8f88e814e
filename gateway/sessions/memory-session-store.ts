// The in-process session store for a single replica (no Redis): the same admissions, leases
// and expiry as redis-session-store.ts, so one contract suite covers both.

import { checkAdmitArguments, type AdmitRequest, type AdmitResult, type SessionRecord, type SessionStore } from './session-store.js';

/** Options for {@link createMemorySessionStore}. */
export interface MemorySessionStoreOptions {
  /** Milliseconds on a clock that never goes backwards. Default `performance.now()`. */
  now?: () => number;
}

interface Entry {
  record: SessionRecord;
  expiresAt: number;
}

/** Creates an in-process {@link SessionStore}. Expired leases are dropped whenever the store is read. */
export function createMemorySessionStore(options: MemorySessionStoreOptions = {}): SessionStore {
  const now = options.now ?? (() => performance.now());
  const entries = new Map<string, Entry>();

  const purge = (at: number): void => {
    for (const [id, entry] of entries) if (entry.expiresAt <= at) entries.delete(id);
  };
  const expiriesOf = (match: (record: SessionRecord) => boolean): Entry[] =>
    [...entries.values()].filter((entry) => match(entry.record)).sort((a, b) => a.expiresAt - b.expiresAt);

  return {
    async admit(request: AdmitRequest): Promise<AdmitResult> {
      checkAdmitArguments(request);
      const at = now();
      purge(at);
      const { record, userLimit, ttlMs } = request;
      const mine = expiriesOf((r) => r.sub === record.sub);
      if (mine.length >= userLimit) {
        // As in the Lua script: the lease whose lapse leaves userLimit - 1 behind.
        const freeing = mine[mine.length - userLimit] as Entry;
        return { admitted: false, scope: 'user-sessions', retryAfterMs: Math.max(1, Math.ceil(freeing.expiresAt - at)) };
      }
      const onInstance = expiriesOf((r) => r.instanceId === record.instanceId);
      let limit = record.maxInstanceSessions ?? 0;
      for (const entry of onInstance) {
        const theirs = entry.record.maxInstanceSessions ?? 0;
        if (theirs > 0 && (limit === 0 || theirs < limit)) limit = theirs;
      }
      if (limit > 0 && onInstance.length >= limit) {
        const freeing = onInstance[onInstance.length - limit] as Entry;
        return { admitted: false, scope: 'instance-sessions', retryAfterMs: Math.max(1, Math.ceil(freeing.expiresAt - at)) };
      }
      entries.set(record.sessionId, { record: { ...record }, expiresAt: at + ttlMs });
      return { admitted: true };
    },

    async heartbeat(records: readonly SessionRecord[], ttlMs: number): Promise<void> {
      const at = now();
      for (const record of records) entries.set(record.sessionId, { record: { ...record }, expiresAt: at + ttlMs });
    },

    async release(record): Promise<void> {
      entries.delete(record.sessionId);
    },

    async list(): Promise<SessionRecord[]> {
      purge(now());
      return [...entries.values()].map((entry) => ({ ...entry.record }));
    },

    async get(sessionId: string): Promise<SessionRecord | undefined> {
      purge(now());
      const entry = entries.get(sessionId);
      return entry === undefined ? undefined : { ...entry.record };
    },
  };
}
