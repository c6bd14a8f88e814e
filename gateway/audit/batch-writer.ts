// The write loop both durable audit sinks share: records queue in order, are written in small
// batches by one writer at a time, and a failed batch stays at the front to be retried, so
// the trail keeps its order and loses nothing while its store is away.

export interface BatchWriterOptions<T> {
  /** Writes one batch; throws when it could not be written (the batch is retried as a whole). */
  write(batch: readonly T[]): Promise<void>;
  /** False while the store cannot take writes at all (e.g. a file being reopened). */
  canWrite?: () => boolean;
  maxBatch: number;
  /** How long a record may wait to share a batch with the next ones. */
  delayMs: number;
  /** After a failed write, try again after this long. */
  retryMs: number;
  /** Called on the first failure of a run of failures. */
  onFailure(error: unknown, pending: number): void;
  /** Called on the first success after a failure. */
  onRecovery(): void;
}

export interface BatchWriter<T> {
  push(item: T): void;
  /** Writes what is queued now; resolves when the queue is empty or a write failed. */
  drain(): Promise<void>;
  /** Drains; throws when records remain unwritten. */
  flush(what: string): Promise<void>;
  /** Stops scheduling writes (explicit drains still work). */
  stop(): void;
  readonly failed: boolean;
  readonly pending: readonly T[];
}

export function createBatchWriter<T>(options: BatchWriterOptions<T>): BatchWriter<T> {
  const pending: T[] = [];
  const canWrite = options.canWrite ?? (() => true);
  let failed = false;
  let stopped = false;
  let timer: NodeJS.Timeout | undefined;
  let draining: Promise<void> | undefined;

  const schedule = (delayMs: number): void => {
    if (timer !== undefined || draining !== undefined || stopped) return;
    timer = setTimeout(() => {
      timer = undefined;
      void drain();
    }, delayMs);
    timer.unref();
  };

  const drain = (): Promise<void> => {
    if (timer !== undefined) {
      clearTimeout(timer);
      timer = undefined;
    }
    if (draining !== undefined) return draining;
    // Assigned before the first await can settle it: `.finally` runs on a later tick.
    draining = (async () => {
      while (pending.length > 0 && canWrite()) {
        const batch = pending.slice(0, options.maxBatch);
        try {
          await options.write(batch);
          pending.splice(0, batch.length);
          if (failed) options.onRecovery();
          failed = false;
        } catch (error) {
          if (!failed) options.onFailure(error, pending.length);
          failed = true;
          break;
        }
      }
    })().finally(() => {
      draining = undefined;
      if (pending.length > 0) schedule(failed ? options.retryMs : 0);
    });
    return draining;
  };

  return {
    push(item) {
      pending.push(item);
      schedule(pending.length >= options.maxBatch ? 0 : options.delayMs);
    },
    drain,
    async flush(what) {
      await drain();
      // A drain started before this call may have left records queued meanwhile.
      if (pending.length > 0 && !failed) await drain();
      if (pending.length > 0) throw new Error(`${what}: ${pending.length} records not written`);
    },
    stop() {
      stopped = true;
      if (timer !== undefined) clearTimeout(timer);
      timer = undefined;
    },
    get failed() {
      return failed;
    },
    get pending() {
      return pending;
    },
  };
}
