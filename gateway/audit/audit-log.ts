// Writes audit records as one JSON object per line to a sink (stdout by default), kept apart
// from diagnostic logs (stderr) so a SIEM can take the trail as it is.

import { randomUUID } from 'node:crypto';
import type { AuditInput, AuditRecord } from './audit-events.js';

export interface AuditSink {
  write(line: string): void;
}

export interface AuditLog {
  record(input: AuditInput): AuditRecord;
}

export interface AuditLogOptions {
  sink: AuditSink;
  now?: () => number;
  newId?: () => string;
}

export function createAuditLog(options: AuditLogOptions): AuditLog {
  const now = options.now ?? Date.now;
  const newId = options.newId ?? randomUUID;
  return {
    record(input) {
      const record = { id: newId(), ts: new Date(now()).toISOString(), ...input } as AuditRecord;
      options.sink.write(`${JSON.stringify(record)}\n`);
      return record;
    },
  };
}

/** The default sink: JSON lines on standard output. */
export function createStdoutSink(): AuditSink {
  return { write: (line) => void process.stdout.write(line) };
}
