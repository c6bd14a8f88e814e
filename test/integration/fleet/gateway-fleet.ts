// Runs several real gateway processes (gateway/main.ts under tsx, each in its own process
// group) against one simulator and one local IdP, so fleet behaviour is tested across
// processes that share nothing but Redis.

import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import type { AuditRecord } from '../../../gateway/audit/audit-events.js';
import { createLocalIdp, type LocalIdp } from '../../../scripts/demo/local-idp.js';
import { localStackEnv } from '../../../scripts/demo/local-stack-env.js';
import { createSelfSignedCertificate, startSimulator, type SimInstance, type Simulator } from '../../../simulator/index.js';
import { within } from '../../helpers/gateway-harness.js';

const ROOT = fileURLToPath(new URL('../../../', import.meta.url));

export const FLEET_POLICY = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - groups: [admins]
    instances: ["*"]
    role: admin
`;

/** The simulator, the IdP and what a gateway process needs to reach them. */
export interface FleetWorld {
  simulator: Simulator;
  idp: LocalIdp;
  /** Environment every gateway process gets (add REDIS_URL etc.). */
  baseEnv: Record<string, string>;
  token(sub: string, groups?: string[]): Promise<string>;
  close(): Promise<void>;
}

export async function startFleetWorld(instances: readonly SimInstance[], policyYaml = FLEET_POLICY): Promise<FleetWorld> {
  const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-fleet-'));
  const tls = await createSelfSignedCertificate(dir);
  const simulator = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, instances });
  const idp = await createLocalIdp({ dir });
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, policyYaml);
  return {
    simulator,
    idp,
    baseEnv: {
      PORT: '0',
      HOST: '127.0.0.1',
      // The simulator's certificate, trusted the way operators trust a private CA.
      NODE_EXTRA_CA_CERTS: tls.certPath,
      ...localStackEnv({ simulator, idp, policyFile }),
      LOG_LEVEL: 'info',
    },
    token: (sub, groups = ['sre']) => idp.sign({ sub, email: `${sub}@example.com`, groups }),
    close: () => simulator.close(),
  };
}

/** One gateway process. */
export interface GatewayProcess {
  url: string;
  wsUrl: string;
  /** Audit records it wrote to standard output so far. */
  audit(): AuditRecord[];
  /** Diagnostic log lines (standard error) so far. */
  logs: string[];
  /** SIGKILL to its process group: a replica that dies without cleaning up. */
  kill(): void;
  /**
   * SIGTERM and wait (bounded, 15 s) for it to exit; a process still running then is SIGKILLed
   * (`killed`). Resolves to how it exited and how long after the SIGTERM.
   */
  stop(): Promise<GatewayExit>;
}

/** How a gateway process ended after {@link GatewayProcess.stop}. */
export interface GatewayExit {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** True when it had not exited 15 s after SIGTERM and was SIGKILLed. */
  killed: boolean;
  /** Milliseconds from the SIGTERM to the exit. */
  afterMs: number;
}

/** Spawns gateway/main.ts with `env` and waits (bounded) until it listens. */
export async function spawnGateway(env: Record<string, string>): Promise<GatewayProcess> {
  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'gateway/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env },
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const killGroup = (signal: NodeJS.Signals): void => {
    if (child.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-child.pid, signal);
    } catch {
      // already gone
    }
  };
  const onExit = (): void => killGroup('SIGKILL');
  process.once('exit', onExit);
  const auditLines: string[] = [];
  const logs: string[] = [];
  lines(child.stdout, (line) => auditLines.push(line));
  let port: number | undefined;
  const listening = new Promise<number>((resolve, reject) => {
    lines(child.stderr, (line) => {
      logs.push(line);
      if (port === undefined && line.includes('"gateway listening"')) {
        port = (JSON.parse(line) as { port: number }).port;
        resolve(port);
      }
    });
    child.once('exit', (code) => reject(new Error(`gateway exited with ${code} before listening:\n${logs.join('\n')}`)));
  });
  const ready = await within(listening, 30_000, 'a gateway process to listen');
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; at: number }>((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) resolve({ code: child.exitCode, signal: child.signalCode, at: performance.now() });
    else child.once('exit', (code, signal) => resolve({ code, signal, at: performance.now() }));
  });
  return {
    url: `http://127.0.0.1:${ready}`,
    wsUrl: `ws://127.0.0.1:${ready}`,
    audit: () => auditLines.filter((line) => line.startsWith('{')).map((line) => JSON.parse(line) as AuditRecord),
    logs,
    kill() {
      killGroup('SIGKILL');
      process.removeListener('exit', onExit);
    },
    async stop() {
      const sentAt = performance.now();
      killGroup('SIGTERM');
      let killed = false;
      const exit = await within(exited, 15_000, 'a gateway process to exit').catch(() => {
        killed = true;
        killGroup('SIGKILL');
        return within(exited, 5000, 'a SIGKILLed gateway process to exit');
      });
      process.removeListener('exit', onExit);
      return { code: exit.code, signal: exit.signal, killed, afterMs: Math.max(0, exit.at - sentAt) };
    },
  };
}

function lines(stream: NodeJS.ReadableStream | null, onLine: (line: string) => void): void {
  let buffered = '';
  stream?.setEncoding('utf8');
  stream?.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) !== -1) {
      onLine(buffered.slice(0, newline));
      buffered = buffered.slice(newline + 1);
    }
  });
}

/** How an attempt to open a session ended. */
export interface Attempt {
  ws: WebSocket;
  received: Buffer[];
  /** Resolves to 'open' or the close code/reason if it closed before opening fully. */
  outcome: Promise<{ kind: 'open' } | { kind: 'closed'; code: number; reason: string } | { kind: 'refused'; status: number }>;
  closed: Promise<{ code: number; reason: string }>;
}

/**
 * Opens a session with a bearer JWT (an API client: no ticket, no Origin). A refused session is
 * accepted and closed at once with a close code, so "opened" is judged by the first echoed frame.
 */
export function openSession(gateway: GatewayProcess, instanceId: string, token: string): Attempt {
  const ws = new WebSocket(`${gateway.wsUrl}/ws/instances/${instanceId}`, ['binary'], { headers: { Authorization: `Bearer ${token}` }, perMessageDeflate: false });
  const received: Buffer[] = [];
  // Attach before 'open': the first frame can arrive in the same read as the 101.
  ws.on('message', (data: Buffer) => received.push(data));
  ws.on('error', () => undefined);
  const closed = new Promise<{ code: number; reason: string }>((resolve) => ws.once('close', (code: number, reason: Buffer) => resolve({ code, reason: reason.toString() })));
  const outcome = new Promise<{ kind: 'open' } | { kind: 'closed'; code: number; reason: string } | { kind: 'refused'; status: number }>((resolve) => {
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      resolve({ kind: 'refused', status: res.statusCode ?? 0 });
    });
    ws.once('open', () => {
      // The echo instance answers once the relay runs; until then the gateway may still refuse.
      ws.send(Buffer.from('hello'));
    });
    ws.on('message', () => resolve({ kind: 'open' }));
    void closed.then((result) => resolve({ kind: 'closed', ...result }));
  });
  return { ws, received, outcome, closed };
}
