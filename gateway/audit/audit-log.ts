// Builds audit records once from typed fields and fans them out to every configured sink
// (stdout JSON lines, an append-only file, a Redis stream), each keeping its own hash chain.
// Decides whether a session may start when a sink cannot write (AUDIT_ON_FAILURE).

import { randomUUID } from 'node:crypto';
import { GatewayError } from '../errors.js';
import { AUDIT_FIELDS, type Actor, type AuditInput, type AuditRecord, type FieldCopy } from './audit-events.js';
import { GENESIS_HASH, linkRecord } from './audit-chain.js';

/** A plain line sink (stdout, a test's array): receives one chained JSON line per record. */
export interface AuditSink {
  write(line: string): void;
  /** Resolves once written lines left the process (stdout); optional. */
  flush?(): Promise<void>;
}

/** A sink that chains, stores and reports its health. */
export interface ChainedSink {
  /** Shown in /readyz (`audit.<name>`) and in logs: `stdout`, `file`, `redisStream`. */
  readonly name: string;
  /** Queues the record; never throws, never blocks. Order of calls is the order in the trail. */
  append(record: AuditRecord): void;
  /** False while records cannot be written (the last write failed, the store is down, the backlog is full). */
  healthy(): boolean;
  /** Records this sink had to drop so far (a full backlog); absent for sinks that never drop. */
  dropped?(): number;
  /** Resolves once every record appended so far is durably written (or rejects if it cannot be). */
  flush(): Promise<void>;
  /** Reopens the destination (log rotation); a no-op for sinks without one. */
  reopen(): Promise<void>;
  /** Flushes (bounded) and releases the destination. */
  close(): Promise<void>;
}

export type AuditFailureMode = 'refuse' | 'continue';

export interface AuditLog {
  /** Builds the record (adds `id`, `ts`) and appends it to every sink. */
  record(input: AuditInput): AuditRecord;
  /** Whether every sink can write. */
  healthy(): boolean;
  /** Health per sink, for readiness. */
  sinkHealth(): Record<string, boolean>;
  /** Records dropped so far, per sink that can drop (for vnc_gateway_audit_records_dropped_total). */
  droppedRecords(): Record<string, number>;
  /**
   * Called before a session or ticket is granted: throws `audit_unavailable` when a sink
   * cannot write, unless AUDIT_ON_FAILURE=continue (then logs and returns).
   */
  ensureWritable(): void;
  flush(): Promise<void>;
  /** Reopens file sinks (SIGHUP after log rotation). */
  reopen(): Promise<void>;
  /** Flushes and closes every sink. */
  close(): Promise<void>;
}

export interface AuditLogOptions {
  /** A plain line sink; shorthand for `sinks: [createLineSink('stdout', sink)]`. */
  sink?: AuditSink;
  sinks?: readonly ChainedSink[];
  onFailure?: AuditFailureMode;
  /** Told when a session is let through with a broken sink (AUDIT_ON_FAILURE=continue). */
  warn?: (detail: object, message: string) => void;
  now?: () => number;
  newId?: () => string;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  const sinks: ChainedSink[] = [...(options.sinks ?? [])];
  if (options.sink) sinks.unshift(createLineSink('stdout', options.sink));
  const onFailure = options.onFailure ?? 'refuse';
  const warn = options.warn ?? (() => undefined);
  const unhealthy = (): string[] => sinks.filter((s) => !s.healthy()).map((s) => s.name);

  return {
    record(input) {
      const record = buildRecord(newId(), new Date(now()).toISOString(), input);
      for (const sink of sinks) sink.append(record);
      return record;
    },
    healthy: () => unhealthy().length === 0,
    sinkHealth: () => Object.fromEntries(sinks.map((s) => [s.name, s.healthy()])),
    droppedRecords: () => Object.fromEntries(sinks.flatMap((s) => (s.dropped ? [[s.name, s.dropped()]] : []))),
    ensureWritable() {
      const broken = unhealthy();
      if (broken.length === 0) return;
      if (onFailure === 'continue') {
        warn({ sinks: broken, auditOnFailure: 'continue' }, 'audit sink cannot write; admitting anyway because AUDIT_ON_FAILURE=continue');
        return;
      }
      throw new GatewayError('audit_unavailable', { cause: new Error(`audit sinks not writable: ${broken.join(', ')}`) });
    },
    async flush() {
      await Promise.all(sinks.map((s) => s.flush()));
    },
    async reopen() {
      await Promise.all(sinks.map((s) => s.reopen()));
    },
    async close() {
      await Promise.all(sinks.map((s) => s.close()));
    },
  };
}

/**
 * Copies exactly the fields the record's type allows (AUDIT_FIELDS) from `input`: whatever
 * else a caller passed, a token by mistake included, is left behind. Throws for a type the
 * schema does not know (a programming error: the types rule it out).
 */
function buildRecord(id: string, ts: string, input: AuditInput): AuditRecord {
  const source = input as unknown as Record<string, unknown>;
  const fields = (AUDIT_FIELDS as Readonly<Record<string, Readonly<Record<string, FieldCopy>>>>)[String(source.type)];
  if (fields === undefined || !Object.hasOwn(AUDIT_FIELDS, String(source.type))) throw new TypeError(`unknown audit record type ${JSON.stringify(source.type)}`);
  const record: Record<string, unknown> = { id, ts };
  for (const [name, copy] of Object.entries(fields)) {
    const value = source[name];
    if (value === undefined) continue;
    record[name] = copy === 'actor' ? copyActor(value as Actor | null) : value;
  }
  return record as unknown as AuditRecord;
}

function copyActor(actor: Actor | null): Actor | null {
  if (actor === null) return null;
  return actor.email === undefined ? { sub: actor.sub } : { sub: actor.sub, email: actor.email };
}

/**
 * Wraps a line sink in a chain kept in memory. Standard output cannot be read back, so this
 * chain starts at the genesis hash with every process; the durable chains are the file and
 * the stream.
 */
export function createLineSink(name: string, sink: AuditSink): ChainedSink {
  let prevHash = GENESIS_HASH;
  let failed = false;
  return {
    name,
    append(record) {
      const linked = linkRecord(record, prevHash);
      prevHash = linked.record.hash;
      try {
        sink.write(`${linked.line}\n`);
        failed = false;
      } catch {
        failed = true;
      }
    },
    healthy: () => !failed,
    flush: async () => sink.flush?.(),
    reopen: async () => undefined,
    close: async () => sink.flush?.(),
  };
}

/** The default sink: JSON lines on standard output. */
export function createStdoutSink(): AuditSink {
  return {
    write: (line) => void process.stdout.write(line),
    // An empty write's callback runs once everything queued before it was handed to the OS.
    flush: () => new Promise<void>((resolve) => process.stdout.write('', () => resolve())),
  };
}
