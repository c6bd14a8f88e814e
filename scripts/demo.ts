// `npm run demo`: the whole system on one machine with nothing external — the Tencent Cloud
// simulator over TLS, a local demo IdP, and the gateway with in-memory state. Prints one URL.

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfig } from '../gateway/config.js';
import { createLogger } from '../gateway/logger.js';
import { startGateway } from '../gateway/server.js';
import { createSelfSignedCertificate, DEMO_INSTANCES, startSimulator } from '../simulator/index.js';
import { createDemoSignIn } from './demo/demo-sign-in.js';
import { createLocalIdp } from './demo/local-idp.js';
import { localStackEnv } from './demo/local-stack-env.js';

const DEMO_USER = { sub: 'demo-user', email: 'demo@example.com', groups: ['demo'] };
const COOKIE = 'vnc_gateway_demo';
const FIRST_INSTANCE = 'lhins-demo0001';

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-demo-'));
  const tls = await createSelfSignedCertificate(dir);
  const simulator = await startSimulator({ tls: { cert: tls.cert, key: tls.key } });
  const idp = await createLocalIdp({ dir });
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, 'rules:\n  - groups: [demo]\n    instances: ["*"]\n    role: operator\n');

  const config = loadConfig({
    PORT: process.env.PORT ?? '8080',
    HOST: process.env.HOST ?? '127.0.0.1',
    ...localStackEnv({ simulator, idp, policyFile }),
    AUTH_TOKEN_COOKIE: COOKIE,
    // The picker at / lists the simulator's fleet through DescribeInstances.
    INSTANCE_LIST_REGIONS: 'ap-guangzhou',
    LOG_LEVEL: process.env.LOG_LEVEL ?? 'warn',
  });
  const logger = createLogger({ level: config.logLevel });
  const gateway = await startGateway(config, {
    logger,
    // The simulator's generated certificate; a real deployment trusts Tencent's public CA.
    ca: [readFileSync(tls.certPath, 'utf8')],
    extraRoutes: createDemoSignIn({ idp, cookieName: COOKIE, user: DEMO_USER, landingPath: '/' }),
  });

  const base = `http://${config.host === '0.0.0.0' ? '127.0.0.1' : config.host}:${gateway.port}`;
  process.stderr.write(
    [
      '',
      '  vnc-gateway demo — NOT FOR PRODUCTION: a demo sign-in issues tokens to anyone who asks.',
      '',
      `  Open:  ${base}/demo/sign-in`,
      '',
      `  Signed in as ${DEMO_USER.email}; simulated instances: ${DEMO_INSTANCES.map((i) => `${i.id} (${i.state})`).join(', ')}`,
      `  It lands on the instance list; a console directly: ${base}/console/${FIRST_INSTANCE}   Audit records follow on stdout. Ctrl+C stops.`,
      '',
    ].join('\n') + '\n',
  );

  const stop = (): void => {
    void gateway.close().then(() => simulator.close()).then(() => process.exit(0));
  };
  process.on('SIGINT', stop);
  process.on('SIGTERM', stop);
}

main().catch((error: unknown) => {
  process.stderr.write(`demo failed: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
