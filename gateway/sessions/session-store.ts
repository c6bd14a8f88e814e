// The fleet's shared record of live sessions, which is also the concurrency lease: a session
// holds its place against the per-user and per-instance limits for as long as its replica keeps
// renewing it, and loses it on release or when the heartbeat lapses (a replica that died).
// Implementations: memory-session-store.ts (one replica) and redis-session-store.ts (Lua).

/** One live (or starting) session as every replica sees it. Never holds a ticket, token or URL. */
export interface SessionRecord {
  sessionId: string;
  sub: string;
  email?: string;
  instanceId: string;
  clientIp: string;
  /** The replica running the session; terminate requests are routed to it. */
  replicaId: string;
  /** Milliseconds since the epoch, when the session was admitted. */
  startedAt: number;
  /** `starting` from admission until the relay runs, then `live`. */
  state: 'starting' | 'live';
  bytesFromClient: number;
  bytesFromUpstream: number;
  /** The policy rule's `maxConcurrentSessions` for the instance (exclusive sessions); absent = unlimited. */
  maxInstanceSessions?: number;
}

/** Which concurrency limit refused an admission. */
export type ConcurrencyScope = 'user-sessions' | 'instance-sessions';

/** Options of one admission. */
export interface AdmitRequest {
  record: SessionRecord;
  /** Concurrent sessions the user (record.sub) may hold across the fleet. */
  userLimit: number;
  /** Lease lifetime without a heartbeat. */
  ttlMs: number;
}

export type AdmitResult =
  | { admitted: true }
  /** `retryAfterMs`: until the earliest lease that would free a slot lapses if its replica stops renewing it; a session that ends frees its slot sooner. */
  | { admitted: false; scope: ConcurrencyScope; retryAfterMs: number };

export interface SessionStore {
  /**
   * Atomically admits `record` if the user holds fewer than `userLimit` sessions and the
   * instance holds fewer sessions than the smallest `maxInstanceSessions` among the newcomer and
   * the sessions already on it (so an exclusive session also keeps others out). Throws
   * GatewayError('state_unavailable') when the store cannot be reached.
   */
  admit(request: AdmitRequest): Promise<AdmitResult>;
  /**
   * Renews the leases of `records` (and stores their bytes and state), re-registering any the
   * store lost (a Redis that restarted empty). Not limit-checked: these sessions already run.
   */
  heartbeat(records: readonly SessionRecord[], ttlMs: number): Promise<void>;
  /** Frees a session's lease and removes it from the list; a no-op when it is not there. */
  release(record: Pick<SessionRecord, 'sessionId' | 'sub' | 'instanceId'>): Promise<void>;
  /** Every session whose lease has not lapsed, on every replica. */
  list(): Promise<SessionRecord[]>;
  /** One session whose lease has not lapsed. */
  get(sessionId: string): Promise<SessionRecord | undefined>;
}

/** Throws RangeError for arguments that are programming errors rather than limits. */
export function checkAdmitArguments(request: AdmitRequest): void {
  if (!Number.isSafeInteger(request.userLimit) || request.userLimit < 1) throw new RangeError('userLimit must be a positive integer.');
  if (!Number.isSafeInteger(request.ttlMs) || request.ttlMs < 1) throw new RangeError('ttlMs must be a positive integer.');
  const max = request.record.maxInstanceSessions;
  if (max !== undefined && (!Number.isSafeInteger(max) || max < 1)) throw new RangeError('maxInstanceSessions must be a positive integer.');
}
