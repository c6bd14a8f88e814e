// Builds the audit trail from the configuration: the sinks (stdout, file, Redis stream), the
// log that fans records out to them, the reader behind the query API and the readiness checks.
// Keeps server.ts to a few lines.

import type { AuditConfig } from '../config.js';
import type { Logger } from '../logger.js';
import type { RedisConnection } from '../state/redis-client.js';
import { openFileSink } from './audit-file-sink.js';
import { createAuditLog, createLineSink, createStdoutSink, type AuditLog, type AuditSink, type ChainedSink } from './audit-log.js';
import { createFileReader, createStreamReader, type AuditReader } from './audit-reader.js';
import { createRedisStreamSink } from './audit-redis-sink.js';

export interface GatewayAudit {
  log: AuditLog;
  /** What GET /api/v1/audit reads: the stream when configured, else the file, else nothing. */
  reader: AuditReader | undefined;
  /** One readiness check per sink (`audit.file`, …); none with AUDIT_ON_FAILURE=continue. */
  readiness: { name: string; check: () => boolean }[];
}

export interface GatewayAuditOptions {
  config: AuditConfig;
  redis: RedisConnection | undefined;
  logger: Logger;
  /** Replaces standard output (tests capture the lines). */
  lineSink?: AuditSink;
  now?: () => number;
}

export async function createGatewayAudit(options: GatewayAuditOptions): Promise<GatewayAudit> {
  const { config, redis, logger } = options;
  const log = (level: 'info' | 'warn' | 'error', detail: object, message: string): void => logger[level](detail, message);
  const sinks: ChainedSink[] = [];
  if (options.lineSink) sinks.push(createLineSink('stdout', options.lineSink));
  else if (config.stdout) sinks.push(createLineSink('stdout', createStdoutSink()));
  if (config.file !== undefined) sinks.push(await openFileSink({ path: config.file, log }));
  if (config.redisStream !== undefined) {
    if (redis === undefined) throw new Error('AUDIT_REDIS_STREAM needs REDIS_URL');
    sinks.push(
      createRedisStreamSink({
        redis,
        key: config.redisStream,
        maxLen: config.redisMaxLen,
        maxAgeMs: config.redisMaxAgeSeconds * 1000,
        log,
        ...(options.now ? { now: options.now } : {}),
      }),
    );
  }
  if (sinks.length === 0) logger.warn('no audit sink is configured (AUDIT_STDOUT=false, no AUDIT_FILE, no AUDIT_REDIS_STREAM): sessions leave no audit trail');
  if (config.onFailure === 'continue') {
    logger.warn({ auditOnFailure: 'continue' }, 'AUDIT_ON_FAILURE=continue: sessions are admitted even when the audit trail cannot be written');
  }
  const auditLog = createAuditLog({
    sinks,
    onFailure: config.onFailure,
    warn: (detail, message) => logger.warn(detail, message),
    ...(options.now ? { now: options.now } : {}),
  });
  const reader =
    config.redisStream !== undefined && redis !== undefined
      ? createStreamReader({ redis, key: config.redisStream })
      : config.file !== undefined
        ? createFileReader({ path: config.file })
        : undefined;
  const readiness =
    config.onFailure === 'continue'
      ? []
      : sinks.map((sink) => ({ name: `audit.${sink.name}`, check: () => sink.healthy() }));
  return { log: auditLog, reader, readiness };
}
