// The append-only audit file (AUDIT_FILE): chained JSON lines, written and fsynced in small
// batches, reopened on SIGHUP so logrotate can move it away; the chain continues from the last
// record of the file found at start or after reopening, so it spans restarts and rotations.

import { open, stat, type FileHandle } from 'node:fs/promises';
import type { AuditRecord } from './audit-events.js';
import { checkLink, GENESIS_HASH, linkRecord } from './audit-chain.js';
import type { ChainedSink } from './audit-log.js';
import { createBatchWriter } from './batch-writer.js';

export interface FileSinkOptions {
  path: string;
  /** Diagnostic logging (never a record's content beyond its id). */
  log?: (level: 'info' | 'warn' | 'error', detail: object, message: string) => void;
  /** Records wait at most this long to be batched into one write + fsync. Default 20. */
  batchDelayMs?: number;
  /** Largest batch per write + fsync. Default 256. */
  maxBatchRecords?: number;
  /** After a failed write, try again after this long. Default 1000. */
  retryMs?: number;
}

/** The file ends in a partial line or a record whose hash does not match: the chain cannot continue safely. */
export class AuditFileCorruptError extends Error {
  override readonly name = 'AuditFileCorruptError';
}

/**
 * Opens (creating if needed) the audit file for appending and reads the hash of its last
 * record. Throws AuditFileCorruptError when the file ends in a partial or altered record:
 * appending after it would hide the damage, so an operator must look first
 * (`npm run audit -- verify FILE`, then move the file aside).
 */
export async function openFileSink(options: FileSinkOptions): Promise<ChainedSink> {
  const { path } = options;
  const log = options.log ?? (() => undefined);
  const retryMs = options.retryMs ?? 1000;

  let prevHash = (await readChainHead(path)) ?? GENESIS_HASH;
  let handle: FileHandle | undefined = await open(path, 'a', 0o640);
  const writer = createBatchWriter<string>({
    async write(batch) {
      if (handle === undefined) throw new Error('audit file is not open');
      await handle.write(batch.join(''));
      await handle.datasync();
    },
    canWrite: () => handle !== undefined,
    maxBatch: options.maxBatchRecords ?? 256,
    delayMs: options.batchDelayMs ?? 20,
    retryMs,
    onFailure: (error, pending) => log('error', { path, err: error, pending }, 'audit file write failed; new sessions are refused unless AUDIT_ON_FAILURE=continue'),
    onRecovery: () => log('info', { path }, 'audit file writable again'),
  });
  let reopenFailed = false;

  const sink: ChainedSink = {
    name: 'file',
    append(record: AuditRecord) {
      const linked = linkRecord(record, prevHash);
      prevHash = linked.record.hash;
      writer.push(`${linked.line}\n`);
    },
    healthy: () => !writer.failed && !reopenFailed && handle !== undefined,
    flush: () => writer.flush(`audit file ${path}`),
    async reopen() {
      await writer.drain();
      const old = handle;
      handle = undefined;
      await old?.close().catch(() => undefined);
      try {
        // A file already at the path (copytruncate, or records from another writer) is where the chain continues.
        const head = await readChainHead(path);
        if (head !== undefined) prevHash = head;
      } catch (error) {
        log('error', { path, err: error }, 'audit file at the path after reopen ends in a damaged record; continuing the chain from this process\'s last record');
      }
      try {
        handle = await open(path, 'a', 0o640);
        log('info', { path }, 'audit file reopened');
      } catch (error) {
        reopenFailed = true;
        log('error', { path, err: error }, 'cannot reopen the audit file');
        // Keep trying: the records wait in memory.
        const retry = setInterval(() => {
          void open(path, 'a', 0o640).then((h) => {
            clearInterval(retry);
            handle = h;
            reopenFailed = false;
            void writer.drain();
          }, () => undefined);
        }, retryMs);
        retry.unref();
        return;
      }
      await writer.drain();
    },
    async close() {
      try {
        await sink.flush();
      } catch (error) {
        log('error', { path, err: error, lost: writer.pending.length }, 'audit records could not be written before closing');
      } finally {
        writer.stop();
        await handle?.close().catch(() => undefined);
        handle = undefined;
      }
    },
  };
  return sink;
}

/** The hash of the last record in `path`, or undefined when the file is absent or empty. */
export async function readChainHead(path: string): Promise<string | undefined> {
  let size: number;
  try {
    const info = await stat(path);
    if (!info.isFile()) return undefined;
    size = info.size;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw error;
  }
  if (size === 0) return undefined;
  const handle = await open(path, 'r');
  try {
    let window = Math.min(size, 64 * 1024);
    for (;;) {
      const buffer = Buffer.alloc(window);
      await handle.read(buffer, 0, window, size - window);
      if (buffer[window - 1] !== 0x0a) {
        throw new AuditFileCorruptError(`audit file ${path} ends in a partial line (a write was cut short or the file was truncated); verify it with \`npm run audit -- verify ${path}\` and move it aside before starting`);
      }
      const start = buffer.lastIndexOf(0x0a, window - 2);
      if (start === -1 && window < size && window < 16 * 1024 * 1024) {
        window = Math.min(size, window * 4);
        continue;
      }
      const line = buffer.subarray(start + 1, window - 1).toString('utf8');
      const check = checkLink(line, undefined);
      if (!check.ok) throw new AuditFileCorruptError(`the last record of audit file ${path} is damaged: ${check.reason}; verify it with \`npm run audit -- verify ${path}\``);
      return check.hash;
    }
  } finally {
    await handle.close();
  }
}
