// The gateway process: the only reader of process.env. Reads and validates the configuration,
// starts the gateway, drains it on SIGTERM/SIGINT and reloads the policy on SIGHUP.

import { ConfigError, loadConfig } from './config.js';
import { createLogger } from './logger.js';
import { startGateway } from './server.js';

async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig(process.env);
  } catch (error) {
    if (error instanceof ConfigError) {
      process.stderr.write(`vnc-gateway: ${error.message}\nSee the configuration table in README.md.\n`);
      process.exit(2);
    }
    throw error;
  }
  const logger = createLogger({ level: config.logLevel });
  const gateway = await startGateway(config, { logger });
  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal, sessions: gateway.sessions.size }, 'shutting down');
    gateway.close().then(
      () => {
        logger.flush();
        process.exit(0);
      },
      (error: unknown) => {
        logger.error({ err: error }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => stop('SIGTERM'));
  process.on('SIGINT', () => stop('SIGINT'));
  // SIGHUP: re-read POLICY_FILE (live sessions stay; a broken file keeps the last good policy).
  process.on('SIGHUP', () => void gateway.reloadPolicy());
  // SIGHUP also reopens AUDIT_FILE, so logrotate can move it away (the chain continues).
  process.on('SIGHUP', () => void gateway.audit.reopen().catch((error: unknown) => logger.error({ err: error }, 'audit reopen failed')));
}

main().catch((error: unknown) => {
  process.stderr.write(`vnc-gateway: failed to start: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
