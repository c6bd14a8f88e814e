#!/usr/bin/env node
// `npm run audit -- verify FILE...` and `npm run audit -- verify --redis-stream KEY [--redis-url URL]`:
// checks an audit trail's hash chain. Exit 0 = intact, 1 = broken (the first broken record is
// named), 2 = usage or read error. Compiled into the image as dist/scripts/audit.js
// (`vnc-gateway-audit`), run there with plain node.

import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { createRedisClient } from '../gateway/state/redis-client.js';
import { verifyFiles, verifyStream, type VerifyResult } from '../gateway/audit/audit-verify.js';

const USAGE = `usage:
  npm run audit -- verify [--partial] FILE...            files in trail order (oldest rotated file first)
  npm run audit -- verify [--partial] --redis-stream KEY [--redis-url URL]   (default REDIS_URL or redis://127.0.0.1:6379)
--partial accepts a trail whose first record links to records not given (archived files, a trimmed stream).`;

/** Runs the command; returns the exit code. Output goes to the given writers (tests capture it). */
export async function runAuditCli(argv: readonly string[], out: (text: string) => void, err: (text: string) => void, env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const [command, ...rest] = argv;
  if (command !== 'verify') {
    err(`${USAGE}\n`);
    return 2;
  }
  let partial = false;
  let stream: string | undefined;
  let redisUrl = env.REDIS_URL ?? 'redis://127.0.0.1:6379';
  const files: string[] = [];
  for (let i = 0; i < rest.length; i++) {
    const arg = rest[i]!;
    if (arg === '--partial') partial = true;
    else if (arg === '--redis-stream' && rest[i + 1] !== undefined) stream = rest[++i];
    else if (arg === '--redis-url' && rest[i + 1] !== undefined) redisUrl = rest[++i]!;
    else if (arg.startsWith('--')) {
      err(`unknown option ${arg}\n${USAGE}\n`);
      return 2;
    } else files.push(arg);
  }
  if ((stream === undefined) === (files.length === 0)) {
    err(`${USAGE}\n`);
    return 2;
  }
  let result: VerifyResult;
  try {
    if (stream !== undefined) {
      const redis = createRedisClient(redisUrl, { name: 'vnc-gateway:audit-verify', commandTimeoutMs: 10_000 });
      try {
        result = await verifyStream(redis, stream, { partial });
      } finally {
        redis.disconnect();
      }
    } else {
      result = await verifyFiles(files, { partial });
    }
  } catch (error) {
    err(`audit verify: cannot read the trail: ${error instanceof Error ? error.message : String(error)}\n`);
    return 2;
  }
  if (result.ok) {
    out(`intact: ${result.records} records${result.records > 0 ? `; last hash ${result.lastHash}` : ''}${partial && result.firstPrevHash ? `; continues from ${result.firstPrevHash}` : ''}\n`);
    return 0;
  }
  err(`BROKEN at record ${result.index} (${result.where}${result.id ? `, id ${result.id}` : ''}): ${result.reason}\n${result.records} records before it are intact.\n`);
  return 1;
}

// Through a bin link, argv[1] is the link: compare real paths.
if (process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)) {
  runAuditCli(process.argv.slice(2), (t) => process.stdout.write(t), (t) => process.stderr.write(t)).then(
    (code) => process.exit(code),
    (error: unknown) => {
      process.stderr.write(`audit: ${error instanceof Error ? error.message : String(error)}\n`);
      process.exit(2);
    },
  );
}
