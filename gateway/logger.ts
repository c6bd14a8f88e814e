// Diagnostic logs: structured JSON (pino) on stderr, apart from the audit trail on stdout.
// Secrets are never passed to the logger; the redact list is a second line of defence.

import { pino, type DestinationStream, type Logger } from 'pino';

export type { Logger } from 'pino';

export interface LoggerOptions {
  level?: string;
  destination?: DestinationStream;
}

export function createLogger(options: LoggerOptions = {}): Logger {
  return pino(
    {
      level: options.level ?? 'info',
      base: { service: 'vnc-gateway' },
      redact: {
        paths: ['ticket', 'token', 'authorization', 'cookie', 'secretKey', 'url', '*.ticket', '*.token', '*.authorization', '*.cookie', '*.secretKey', '*.url'],
        censor: '[redacted]',
      },
    },
    options.destination ?? pino.destination({ fd: 2, sync: false }),
  );
}
