// Starts the real thing for integration tests: the simulator over TLS, a local IdP, and the
// gateway on port 0 (memory or real Redis state), capturing every log line and audit record.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { WebSocket } from 'ws';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { loadConfig } from '../../gateway/config.js';
import { createLogger } from '../../gateway/logger.js';
import { startGateway, type GatewayOverrides, type RunningGateway } from '../../gateway/server.js';
import { createLocalIdp, type LocalIdp } from '../../scripts/demo/local-idp.js';
import { localStackEnv } from '../../scripts/demo/local-stack-env.js';
import { createSelfSignedCertificate, startSimulator, type SimAccount, type SimInstance, type Simulator } from '../../simulator/index.js';

export type StoreKind = 'memory' | 'redis';

export interface HarnessOptions {
  store: StoreKind;
  env?: Record<string, string>;
  instances?: readonly SimInstance[];
  policyYaml?: string;
  overrides?: GatewayOverrides;
  simulator?: { apiRequestsPerSecond?: number; connectsPerInstancePerMinute?: number; accounts?: readonly SimAccount[] };
  /** Runs once the simulator is up, before the gateway starts; its variables join `env` (they win). */
  prepare?: (simulator: Simulator, dir: string) => Promise<Record<string, string>> | Record<string, string>;
}

export interface WsOutcome {
  code: number;
  reason: string;
}

export interface OpenedSocket {
  ws: WebSocket;
  /** Binary messages received, in order. */
  received: Buffer[];
  opened: Promise<void>;
  closed: Promise<WsOutcome>;
  /** The HTTP status when the upgrade was refused. */
  refused: Promise<number | undefined>;
}

export interface Harness {
  gateway: RunningGateway;
  simulator: Simulator;
  idp: LocalIdp;
  caPem: string;
  logLines: string[];
  auditLines: string[];
  audit(): AuditRecord[];
  token(sub?: string, claims?: Record<string, unknown>): Promise<string>;
  requestTicket(instanceId: string, token: string, init?: { headers?: Record<string, string>; body?: string }): Promise<{ status: number; body: Record<string, unknown>; headers: Headers }>;
  open(instanceId: string, options?: { ticket?: string; protocols?: string[]; headers?: Record<string, string>; query?: string }): OpenedSocket;
  close(): Promise<void>;
}

const DEFAULT_POLICY = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - users: [alice@example.com]
    instances: ["lhins-echo*"]
    role: operator
  - users: [victor@example.com]
    instances: ["*"]
    role: viewer
`;

export async function startHarness(options: HarnessOptions): Promise<Harness> {
  const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-test-'));
  const tls = await createSelfSignedCertificate(dir);
  const caPem = readFileSync(tls.certPath, 'utf8');
  const simulator = await startSimulator({
    tls: { cert: tls.cert, key: tls.key },
    ...(options.instances ? { instances: options.instances } : {}),
    ...options.simulator,
  });
  const idp = await createLocalIdp({ dir });
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, options.policyYaml ?? DEFAULT_POLICY);

  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    ...localStackEnv({ simulator, idp, policyFile }),
    AUTH_TOKEN_COOKIE: 'corp_session',
    LOG_LEVEL: 'debug',
    // Teardown closes live sessions at once; shutdown tests set their own grace.
    SHUTDOWN_GRACE_S: '0',
    ...(options.store === 'redis' ? { REDIS_URL: 'redis://127.0.0.1:6379', REDIS_KEY_PREFIX: `test:${randomUUID()}:` } : {}),
    ...options.env,
    ...(options.prepare ? await options.prepare(simulator, dir) : {}),
  };
  const config = loadConfig(env);
  const logLines: string[] = [];
  const auditLines: string[] = [];
  const gateway = await startGateway(config, {
    logger: createLogger({ level: 'debug', destination: { write: (line: string) => void logLines.push(line) } }),
    auditSink: { write: (line) => void auditLines.push(line) },
    ca: [caPem],
    ...options.overrides,
  });
  const wsBase = gateway.url.replace(/^http/, 'ws');

  return {
    gateway,
    simulator,
    idp,
    caPem,
    logLines,
    auditLines,
    audit: () => auditLines.map((line) => JSON.parse(line) as AuditRecord),
    token: (sub = 'sam', claims = {}) => idp.sign({ sub, email: `${sub}@example.com`, groups: ['sre'], ...claims }),
    async requestTicket(instanceId, token, init = {}) {
      const res = await fetch(`${gateway.url}/api/v1/instances/${instanceId}/tickets`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json', ...init.headers },
        body: init.body ?? '{}',
      });
      return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
    },
    open(instanceId, openOptions = {}) {
      const protocols = openOptions.protocols ?? (openOptions.ticket ? ['binary', `vnc-gateway.ticket.${openOptions.ticket}`] : ['binary']);
      const ws = new WebSocket(`${wsBase}/ws/instances/${instanceId}${openOptions.query ?? ''}`, protocols, {
        headers: openOptions.headers ?? {},
        perMessageDeflate: false,
      });
      const received: Buffer[] = [];
      // Attach before 'open': the first frame can arrive in the same read as the 101.
      ws.on('message', (data: Buffer) => received.push(data));
      let refusedStatus: (status: number | undefined) => void = () => undefined;
      const refused = new Promise<number | undefined>((resolve) => (refusedStatus = resolve));
      const opened = new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('unexpected-response', (_req, res) => {
          refusedStatus(res.statusCode);
          res.resume();
          reject(new Error(`upgrade refused with HTTP ${res.statusCode}`));
        });
        ws.once('error', reject);
      });
      opened.catch(() => undefined);
      const closed = new Promise<WsOutcome>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
      ws.on('error', () => undefined);
      return { ws, received, opened, closed, refused };
    },
    async close() {
      await gateway.close();
      await simulator.close();
    },
  };
}

/** Rejects after `ms` so no wait in a test is unbounded. */
export function within<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout;
  return Promise.race([
    promise.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms))),
  ]);
}

/** Polls `condition` until it holds, at most `ms`. */
export async function eventually(condition: () => boolean, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}
