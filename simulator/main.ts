// CLI: `npx tsx simulator/main.ts` starts the simulator over TLS and prints how to point the gateway at it.

import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { DEMO_CREDENTIALS, DEMO_INSTANCES, createSelfSignedCertificate, startSimulator, type SimInstance } from './index.js';

function parsePort(name: string, value: string | undefined): number {
  if (value === undefined || value === '') return 0;
  const port = Number(value);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`${name} must be a port number (got "${value}")`);
  return port;
}

function parseTcpTarget(value: string | undefined): { host: string; port: number } | undefined {
  if (value === undefined || value === '') return undefined;
  const match = /^(.+):(\d+)$/.exec(value);
  if (match === null) throw new Error(`SIM_VNC_TCP must be host:port (got "${value}")`);
  return { host: (match[1] ?? '').replace(/^\[|\]$/g, ''), port: parsePort('SIM_VNC_TCP port', match[2]) };
}

async function main(): Promise<void> {
  const env = process.env;
  let certPath: string;
  let tls: { cert: string; key: string };
  if (env.SIM_TLS_CERT !== undefined && env.SIM_TLS_KEY !== undefined) {
    certPath = resolve(env.SIM_TLS_CERT);
    tls = { cert: await readFile(certPath, 'utf8'), key: await readFile(resolve(env.SIM_TLS_KEY), 'utf8') };
  } else if (env.SIM_TLS_CERT !== undefined || env.SIM_TLS_KEY !== undefined) {
    throw new Error('set both SIM_TLS_CERT and SIM_TLS_KEY, or neither (a certificate is generated)');
  } else {
    const generated = await createSelfSignedCertificate();
    certPath = generated.certPath;
    tls = { cert: generated.cert, key: generated.key };
  }
  const tcp = parseTcpTarget(env.SIM_VNC_TCP);
  // With a real VNC server configured, every demo instance that would use the built-in server uses it instead.
  const instances: SimInstance[] = DEMO_INSTANCES.map((instance) =>
    tcp !== undefined && (instance.vnc === undefined || instance.vnc.kind === 'builtin')
      ? { ...instance, vnc: { kind: 'tcp', host: tcp.host, port: tcp.port } }
      : { ...instance },
  );
  const sim = await startSimulator({
    tls,
    host: env.SIM_HOST ?? '127.0.0.1',
    ...(env.SIM_PUBLIC_HOST !== undefined ? { publicHost: env.SIM_PUBLIC_HOST } : {}),
    port: parsePort('SIM_PORT', env.SIM_PORT),
    vncPort: parsePort('SIM_VNC_PORT', env.SIM_VNC_PORT),
    instances,
  });

  const lines = [
    'Tencent Cloud simulator running',
    `  API URL (Lighthouse and CVM): ${sim.apiUrl}`,
    `  VNC endpoint port:            ${sim.vncPort}`,
    `  CA certificate:               ${certPath}`,
    '  credentials:',
    `    TENCENTCLOUD_SECRET_ID=${DEMO_CREDENTIALS.secretId}`,
    `    TENCENTCLOUD_SECRET_KEY=${DEMO_CREDENTIALS.secretKey}`,
    '  gateway environment:',
    `    TENCENTCLOUD_LIGHTHOUSE_ENDPOINT=${sim.apiUrl}`,
    `    TENCENTCLOUD_CVM_ENDPOINT=${sim.apiUrl}`,
    `    NODE_EXTRA_CA_CERTS=${certPath}`,
    `    UPSTREAM_HOSTS=${env.SIM_PUBLIC_HOST ?? 'localhost'}`,
    '  instances:',
    ...instances.map(
      (i) => `    ${i.id.padEnd(16)} ${i.state.padEnd(10)} ${i.vnc?.kind === 'tcp' ? `tcp ${i.vnc.host}:${i.vnc.port}` : (i.vnc?.kind ?? 'builtin')}`,
    ),
  ];
  process.stdout.write(`${lines.join('\n')}\n`);

  const shutdown = (): void => {
    void sim.close().then(() => process.exit(0));
  };
  process.once('SIGINT', shutdown);
  process.once('SIGTERM', shutdown);
}

main().catch((error: unknown) => {
  process.stderr.write(`simulator: ${error instanceof Error ? error.message : String(error)}\n`);
  process.exit(1);
});
