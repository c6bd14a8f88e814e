// Verifies a stored trail's hash chain: audit files in order (rotated ones first), or a Redis
// stream. Reports the first broken record: edited (hash mismatch), removed / inserted /
// reordered (prevHash mismatch), or cut short (a partial last line); for a stream also the
// newest records removed (the stream ends before the head the appending script stored).

import { createReadStream } from 'node:fs';
import { open } from 'node:fs/promises';
import { createInterface } from 'node:readline';
import type { RedisConnection } from '../state/redis-client.js';
import { checkLink, GENESIS_HASH } from './audit-chain.js';
import { readStreamHead, streamHeadKey } from './audit-redis-sink.js';

export interface VerifyOptions {
  /**
   * Accept a first record that links to records not given here (older rotated files, or a
   * stream trimmed by MAXLEN / age). Without it the trail must start at the genesis hash.
   */
  partial?: boolean;
}

export type VerifyResult =
  | { ok: true; records: number; firstPrevHash: string | undefined; lastHash: string | undefined }
  | {
      ok: false;
      /** Records checked before the broken one. */
      records: number;
      /** 1-based position of the broken record in the whole trail. */
      index: number;
      /** `file:line` or `stream KEY entry ID`. */
      where: string;
      id: string | undefined;
      reason: string;
    };

/** Checks records one by one, in trail order. */
export function createChainVerifier(options: VerifyOptions = {}): {
  push(line: string, where: string, complete: boolean): VerifyResult | undefined;
  result(): VerifyResult;
} {
  let expected: string | undefined = options.partial ? undefined : GENESIS_HASH;
  let count = 0;
  let firstPrevHash: string | undefined;
  let failure: VerifyResult | undefined;
  return {
    push(line, where, complete) {
      if (failure) return failure;
      const index = count + 1;
      if (!complete) {
        failure = { ok: false, records: count, index, where, id: undefined, reason: 'the line is incomplete: the file was truncated or a write was cut short' };
        return failure;
      }
      const check = checkLink(line, expected);
      if (!check.ok) {
        let reason = check.reason;
        if (count === 0 && expected === GENESIS_HASH && check.record?.hash !== undefined && check.reason.startsWith('its prevHash')) {
          reason = 'the first record does not start the chain (prevHash is not the genesis hash): earlier records are missing; pass the older files first, or --partial if they were archived';
        }
        failure = { ok: false, records: count, index, where, id: typeof check.record?.id === 'string' ? check.record.id : undefined, reason };
        return failure;
      }
      if (count === 0) firstPrevHash = check.record.prevHash as string;
      count++;
      expected = check.hash;
      return undefined;
    },
    result() {
      return failure ?? { ok: true, records: count, firstPrevHash, lastHash: expected };
    },
  };
}

/** Verifies files as one trail, in the order given (oldest rotated file first). */
export async function verifyFiles(paths: readonly string[], options: VerifyOptions = {}): Promise<VerifyResult> {
  const verifier = createChainVerifier(options);
  for (const path of paths) {
    const endsWithNewline = await lastByteIsNewline(path);
    const lines = createInterface({ input: createReadStream(path), crlfDelay: Infinity });
    let lineNo = 0;
    let held: string | undefined;
    for await (const line of lines) {
      if (held !== undefined && verifier.push(held, `${path}:${lineNo}`, true)) {
        lines.close();
        return verifier.result();
      }
      held = line;
      lineNo++;
    }
    if (held !== undefined && verifier.push(held, `${path}:${lineNo}`, endsWithNewline)) return verifier.result();
  }
  return verifier.result();
}

/**
 * Verifies a Redis stream from its first entry to its last, then against its stored head: the
 * head's entry must still be there with the head's hash (entries after it are appends made
 * while verifying), and without `partial` the records up to it must number the head's count.
 */
export async function verifyStream(redis: RedisConnection, key: string, options: VerifyOptions = {}): Promise<VerifyResult> {
  // The head first: whatever is appended after this read lies beyond it and is checked as chain.
  const head = await readStreamHead(redis, key);
  const verifier = createChainVerifier(options);
  let recordsAtHead: number | undefined;
  let start = '-';
  for (;;) {
    const entries = (await redis.xrange(key, start, '+', 'COUNT', 1000)) as [string, string[]][];
    for (const [id, fields] of entries) {
      let line: string | undefined;
      for (let i = 0; i + 1 < fields.length; i += 2) if (fields[i] === 'record') line = fields[i + 1];
      const where = `stream ${key} entry ${id}`;
      if (verifier.push(line ?? '', where, true)) return verifier.result();
      if (head !== undefined && id === head.id) {
        const sofar = verifier.result();
        if (sofar.ok && sofar.lastHash !== head.hash) {
          return { ok: false, records: sofar.records - 1, index: sofar.records, where, id: undefined, reason: `its hash is not the stored head's (${streamHeadKey(key)}): the entry was replaced` };
        }
        recordsAtHead = sofar.records;
      }
    }
    if (entries.length < 1000) break;
    start = `(${entries[entries.length - 1]![0]}`;
  }
  const result = verifier.result();
  if (!result.ok) return result;
  const where = `stream ${key} head ${streamHeadKey(key)}`;
  const fail = (reason: string): VerifyResult => ({ ok: false, records: result.records, index: result.records + 1, where, id: undefined, reason });
  if (head === undefined) {
    if (result.records === 0) return result;
    return fail(`the stream has no stored head (${streamHeadKey(key)}): it was deleted, or no gateway with a head key has appended yet, so removal of the newest records cannot be ruled out`);
  }
  if (recordsAtHead === undefined) {
    return fail(`the newest records were removed: the stream ends before its stored head, entry ${head.id} (record ${head.seq} of the trail, hash ${head.hash})`);
  }
  if (!options.partial && recordsAtHead !== head.seq) {
    return fail(`${head.seq} records were appended up to the stored head but the stream holds ${recordsAtHead}: records were removed`);
  }
  return result;
}

async function lastByteIsNewline(path: string): Promise<boolean> {
  const handle = await open(path, 'r');
  try {
    const { size } = await handle.stat();
    if (size === 0) return true;
    const byte = Buffer.alloc(1);
    await handle.read(byte, 0, 1, size - 1);
    return byte[0] === 0x0a;
  } finally {
    await handle.close();
  }
}
