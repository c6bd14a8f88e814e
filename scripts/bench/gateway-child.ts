// The bench's gateway process: the real gateway from the environment, like gateway/main.ts, but
// reporting its port over IPC. BENCH_UNLIMITED=1 swaps in a limiter that admits everything, for
// the scale phase only: Tencent's 10 calls/s would make 5,000 sessions take ten minutes.

import { loadConfig } from '../../gateway/config.js';
import { createLogger } from '../../gateway/logger.js';
import { startGateway } from '../../gateway/server.js';

async function main(): Promise<void> {
  const config = loadConfig(process.env);
  const gateway = await startGateway(config, {
    logger: createLogger({ level: 'warn' }),
    ...(process.env.BENCH_UNLIMITED === '1'
      ? { limiter: { attempt: async () => ({ allowed: true, remaining: 1, retryAfterMs: 0 }), forget: async () => undefined, reserve: async () => ({ granted: true as const, waitMs: 0 }) } }
      : {}),
  });
  process.send?.({ port: gateway.port, pid: process.pid });
  const stop = (): void => {
    void gateway.close({ graceMs: 0 }).finally(() => process.exit(0));
  };
  process.on('message', (message) => {
    if (message === 'stop') stop();
  });
  process.on('disconnect', stop);
}

void main();
