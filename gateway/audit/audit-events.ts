// The audit record schema: a discriminated union on `type`, and for each type the allow-list
// of its fields (checked against the types by the compiler). Records are built only from these
// fields, so no token, ticket, secret key or upstream URL can reach the trail.

export interface Actor {
  sub: string;
  email?: string;
}

interface AuditBase {
  /** Unique record id. */
  id: string;
  /** ISO-8601 time the record was made. */
  ts: string;
  /** Who, when known (null for refusals before authentication). */
  actor: Actor | null;
  instanceId?: string;
  sessionId?: string;
  clientIp: string;
  /** The gateway's id of the HTTP request or upgrade that led to this record. */
  gatewayRequestId: string;
  /** Tencent Cloud's RequestId, where a Tencent call was made. */
  tencentRequestId?: string;
}

export interface TicketIssued extends AuditBase {
  type: 'ticket.issued';
  role: string;
  expiresAt: string;
}

export interface SessionDenied extends AuditBase {
  type: 'session.denied';
  /** Gateway error code (see the README's error table). */
  code: string;
  /** Where it was refused: the ticket call, the upgrade checks, or Tencent/upstream after accept. */
  stage: 'ticket' | 'upgrade' | 'upstream';
  httpStatus?: number;
  closeCode?: number;
  /** Tencent's error code, when Tencent refused. */
  tencentCode?: string;
}

export interface SessionStarted extends AuditBase {
  type: 'session.started';
  sessionId: string;
  role: string;
  /** Milliseconds from the upgrade request to the relay start (auth, limits, Tencent API, upstream handshake). */
  setupMs?: number;
}

export interface SessionEnded extends AuditBase {
  type: 'session.ended';
  sessionId: string;
  durationMs: number;
  bytesFromClient: number;
  bytesFromUpstream: number;
  closeCode: number;
  closedBy: 'client' | 'upstream' | 'gateway' | 'admin';
  reason: string;
}

export interface AuthFailed extends AuditBase {
  type: 'auth.failed';
  code: string;
  /** Where the credential came from: bearer, header, cookie, ticket, or none. */
  source: string;
}

export interface RateLimitExceeded extends AuditBase {
  type: 'ratelimit.exceeded';
  /** `auth`: failed authentications from one client IP (AUTH_FAILURES_PER_MINUTE). */
  /** `user`: starts per minute; `user-sessions` / `instance-sessions`: concurrent sessions. */
  scope: 'instance' | 'api' | 'user' | 'user-sessions' | 'instance-sessions' | 'auth';
  retryAfter: number;
}

export interface SessionTerminated extends AuditBase {
  type: 'session.terminated';
  sessionId: string;
  terminatedBy: Actor;
}

export type AuditRecord =
  | TicketIssued
  | SessionDenied
  | SessionStarted
  | SessionEnded
  | AuthFailed
  | RateLimitExceeded
  | SessionTerminated;

export type AuditType = AuditRecord['type'];

/** What a caller supplies; `id` and `ts` are added by the audit log. */
export type AuditInput = AuditRecord extends infer R ? (R extends AuditRecord ? Omit<R, 'id' | 'ts'> : never) : never;

/** {@link AuditInput} without the fields `K` (which a caller's helper fills in), per record type. */
export type AuditInputWithout<K extends PropertyKey> = AuditInput extends infer R ? (R extends AuditInput ? Omit<R, K> : never) : never;

/** How a field is copied into a record: as it is, or (an {@link Actor}) as `sub` and `email` only. */
export type FieldCopy = 'value' | 'actor';

/** Every field of a record type but `id` and `ts`, none missing and none extra, each with how it is copied. */
type FieldList<R> = { readonly [K in Exclude<keyof R, 'id' | 'ts'>]-?: NonNullable<R[K]> extends Actor ? 'actor' : 'value' };

const BASE_FIELDS = {
  type: 'value',
  actor: 'actor',
  instanceId: 'value',
  sessionId: 'value',
  clientIp: 'value',
  gatewayRequestId: 'value',
  tencentRequestId: 'value',
} as const;

/**
 * The allow-list: the fields each record type may carry. The audit log copies exactly these
 * from what a caller passes, so a field the schema does not name is dropped even when a cast
 * got it past the type checker. Adding a field to an interface above fails to compile until
 * it is listed here.
 */
export const AUDIT_FIELDS: { readonly [T in AuditType]: FieldList<Extract<AuditRecord, { type: T }>> } = {
  'ticket.issued': { ...BASE_FIELDS, role: 'value', expiresAt: 'value' },
  'session.denied': { ...BASE_FIELDS, code: 'value', stage: 'value', httpStatus: 'value', closeCode: 'value', tencentCode: 'value' },
  'session.started': { ...BASE_FIELDS, role: 'value', setupMs: 'value' },
  'session.ended': { ...BASE_FIELDS, durationMs: 'value', bytesFromClient: 'value', bytesFromUpstream: 'value', closeCode: 'value', closedBy: 'value', reason: 'value' },
  'auth.failed': { ...BASE_FIELDS, code: 'value', source: 'value' },
  'ratelimit.exceeded': { ...BASE_FIELDS, scope: 'value', retryAfter: 'value' },
  'session.terminated': { ...BASE_FIELDS, terminatedBy: 'actor' },
};
