// One gateway replica of the soak: gateway/main.ts in its own process group, writing its audit
// trail to a file of its own, with a preload that runs a full GC on SIGUSR2 so memory is read
// without garbage; its /healthz is polled and its memory sampled for as long as it runs.

import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const GC_PRELOAD = fileURLToPath(new URL('./gc-on-signal.mjs', import.meta.url));

/** What /metrics says about one process's memory and handles. */
export interface ReplicaMemory {
  rssBytes: number;
  heapUsedBytes: number;
  activeHandles: number;
  liveSessions: number;
}

/** One incarnation of a replica (a restart is a new incarnation with a new audit file). */
export interface SoakReplica {
  readonly name: string;
  readonly url: string;
  readonly wsUrl: string;
  readonly pid: number;
  readonly auditFile: string;
  /** True from SIGTERM on: clients no longer pick it. */
  readonly stopping: boolean;
  /** Exit code, signal, or undefined while it runs. */
  readonly exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  /** Warn/error log lines (info is counted, not kept). */
  readonly problems: string[];
  /** RSS samples from /proc: peak since start. */
  readonly peakRssBytes: number;
  health: { polls: number; failures: number; lastFailure?: string };
  /** Forces a full GC in the child, then reads /metrics. */
  memory(): Promise<ReplicaMemory>;
  /** SIGTERM; resolves with the exit once the process is gone (bounded, then SIGKILL). */
  stop(boundMs: number): Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  kill(): void;
}

/** Spawns a replica and waits (bounded) until it listens; polls /healthz every `healthEveryMs`. */
export async function startReplica(name: string, env: Record<string, string>, auditFile: string, healthEveryMs = 500): Promise<SoakReplica> {
  const child: ChildProcess = spawn(process.execPath, ['--expose-gc', '--import', GC_PRELOAD, '--import', 'tsx', 'gateway/main.ts'], {
    cwd: ROOT,
    env: { PATH: process.env.PATH ?? '', HOME: process.env.HOME ?? '/tmp', ...env, AUDIT_FILE: auditFile, AUDIT_STDOUT: 'false' },
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  const pid = child.pid ?? 0;
  const killGroup = (signal: NodeJS.Signals): void => {
    if (child.exitCode !== null || child.signalCode !== null) return;
    try {
      process.kill(-pid, signal);
    } catch {
      // already gone
    }
  };
  const onExit = (): void => killGroup('SIGKILL');
  process.once('exit', onExit);
  const problems: string[] = [];
  let exit: { code: number | null; signal: NodeJS.Signals | null } | undefined;
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      exit = { code, signal };
      process.removeListener('exit', onExit);
      resolve(exit);
    }),
  );
  let port: number | undefined;
  const listening = new Promise<number>((resolve, reject) => {
    let buffered = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => {
      buffered += chunk;
      let newline: number;
      while ((newline = buffered.indexOf('\n')) !== -1) {
        const line = buffered.slice(0, newline);
        buffered = buffered.slice(newline + 1);
        if (port === undefined && line.includes('"gateway listening"')) {
          port = (JSON.parse(line) as { port: number }).port;
          resolve(port);
        }
        // pino levels: 40 warn, 50 error, 60 fatal; anything not JSON is a crash trace.
        if (!line.startsWith('{') || /"level":(4|5|6)0/.test(line)) if (problems.length < 200) problems.push(line.slice(0, 400));
      }
    });
    void exited.then((e) => reject(new Error(`replica ${name} exited (${e.code ?? e.signal}) before listening:\n${problems.join('\n')}`)));
  });
  const timeout = setTimeout(() => killGroup('SIGKILL'), 30_000);
  const ready = await listening.finally(() => clearTimeout(timeout));
  const url = `http://127.0.0.1:${ready}`;

  let stopping = false;
  let peakRssBytes = 0;
  const health = { polls: 0, failures: 0 } as SoakReplica['health'];
  const sampleRss = (): void => {
    try {
      const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
      if (match) peakRssBytes = Math.max(peakRssBytes, Number(match[1]) * 1024);
    } catch {
      // the process is gone
    }
  };
  // Liveness is polled while the replica drains too: a draining gateway must still answer until
  // it closes its listener (then a refused connection is expected, a silent one is not).
  const poll = setInterval(() => {
    sampleRss();
    if (exit !== undefined) return;
    fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) }).then(
      (res) => {
        void res.body?.cancel();
        health.polls++;
        if (res.status !== 200) {
          health.failures++;
          health.lastFailure = `HTTP ${res.status}`;
        }
      },
      (error: unknown) => {
        const code = (error as { cause?: { code?: string } }).cause?.code;
        if (stopping && (code === 'ECONNREFUSED' || code === 'ECONNRESET' || exit !== undefined)) return;
        health.polls++;
        health.failures++;
        health.lastFailure = `${stopping ? 'while draining: ' : ''}${error instanceof Error ? `${error.name} ${code ?? error.message}` : String(error)}`;
      },
    );
  }, healthEveryMs);
  void exited.then(() => clearInterval(poll));

  return {
    name,
    url,
    wsUrl: url.replace(/^http/, 'ws'),
    pid,
    auditFile,
    get stopping() {
      return stopping;
    },
    get exit() {
      return exit;
    },
    problems,
    get peakRssBytes() {
      return peakRssBytes;
    },
    health,
    async memory() {
      killGroup('SIGUSR2');
      await new Promise((resolve) => setTimeout(resolve, 500));
      const text = await (await fetch(`${url}/metrics`, { signal: AbortSignal.timeout(5000) })).text();
      const metric = (metricName: string): number => {
        const match = new RegExp(`^${metricName}(?:\\{[^}]*\\})? ([0-9.e+]+)$`, 'm').exec(text);
        return match ? Number(match[1]) : NaN;
      };
      return {
        rssBytes: metric('process_resident_memory_bytes'),
        heapUsedBytes: metric('nodejs_heap_size_used_bytes'),
        activeHandles: metric('nodejs_active_handles_total'),
        liveSessions: metric('vnc_gateway_sessions_live'),
      };
    },
    async stop(boundMs) {
      stopping = true;
      sampleRss();
      killGroup('SIGTERM');
      const timer = setTimeout(() => killGroup('SIGKILL'), boundMs);
      const result = await exited;
      clearTimeout(timer);
      return result;
    },
    kill() {
      stopping = true;
      killGroup('SIGKILL');
    },
  };
}
