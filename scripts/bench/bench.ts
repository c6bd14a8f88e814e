// `npm run bench`: the relay against nginx and a direct connection, side by side in one run,
// against the same TLS upstream (upstream-twin.ts). Prints a Markdown table of ratios:
//   throughput  256 MiB upstream→client in 64 KiB frames (MiB/s)
//   latency     8-byte client messages echoed by the upstream (p50/p99 round trip)
//   setup       ticket request → first upstream byte, paced under Tencent's 10 calls/s
//   scale       5,000 idle relayed sessions in one gateway process (RSS per session)
// Flags: --reps N (default 3), --quick (smaller sizes), --skip throughput,latency,setup,scale,
// --sessions N, --setup-sessions N, --audit-file (fsynced AUDIT_FILE instead of stdout), --cpu-prof.
// Each server runs in its own process; the numbers are only as quiet as the machine.

import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { WebSocket } from 'ws';
import { createLocalIdp } from '../demo/local-idp.js';
import { createSelfSignedCertificate, DEMO_CREDENTIALS } from '../../simulator/index.js';
import { findNginx, NGINX_INSTALL_HINT, startNginx, type RunningNginx } from './nginx.js';
import { BANNER, bulkCommand } from './twin-protocol.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const args = process.argv.slice(2);
const flag = (name: string): boolean => args.includes(`--${name}`);
const option = (name: string, fallback: string): string => {
  const index = args.indexOf(`--${name}`);
  return index >= 0 ? (args[index + 1] ?? fallback) : fallback;
};
const quick = flag('quick');
const REPS = Number(option('reps', quick ? '1' : '3'));
const skip = new Set(option('skip', '').split(',').filter(Boolean));
const MiB = 1024 * 1024;
const BULK_BYTES = (quick ? 64 : 256) * MiB;
const FRAME_BYTES = 64 * 1024;
const ECHOES = quick ? 500 : 2000;
const LATENCY_WARMUP = quick ? 500 : 3000;
const THROUGHPUT_WARMUP_BYTES = (quick ? 16 : 64) * MiB;
const SCALE_SESSIONS = Number(option('sessions', quick ? '1000' : '5000'));
const SETUP_SESSIONS = Number(option('setup-sessions', quick ? '30' : '120'));
// Under the gateway's budget: 10 calls per 1.25 s window (safety margin) is 8/s; stay below it.
const SETUP_RATE_PER_S = 6;

type PathName = 'gateway' | 'nginx' | 'direct';

interface Child {
  process: ChildProcess;
  message: Record<string, unknown>;
}

function forkChild(script: string, env: Record<string, string>, execArgv: string[] = []): Promise<Child> {
  const child = fork(join(here, script), [], {
    execArgv: ['--import', 'tsx', ...execArgv],
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'inherit', 'ipc'],
  });
  return new Promise((resolve, reject) => {
    child.once('message', (message) => resolve({ process: child, message: message as Record<string, unknown> }));
    child.once('exit', (code) => reject(new Error(`${script} exited with ${code} before it was ready`)));
  });
}

async function stopChild(child: Child | undefined): Promise<void> {
  if (child === undefined || child.process.exitCode !== null) return;
  const exited = new Promise((resolve) => child.process.once('exit', resolve));
  child.process.send('stop');
  await Promise.race([exited, new Promise((resolve) => setTimeout(resolve, 10_000))]);
  if (child.process.exitCode === null) child.process.kill('SIGKILL');
}

function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = /VmRSS:\s+(\d+) kB/.exec(status)?.[1];
  return Number(kib ?? 0) * 1024;
}

/** CPU time (user + system) a process has used so far, in ms (Linux /proc, 100 ticks/s). */
function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) * 10;
  } catch {
    return Number.NaN;
  }
}

/** nginx's worker: the master's only child. */
function nginxWorkerPid(masterPid: number): number {
  try {
    return Number(readFileSync(`/proc/${masterPid}/task/${masterPid}/children`, 'utf8').trim().split(/\s+/)[0]);
  } catch {
    return Number.NaN;
  }
}

function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? Number.NaN;
}

function median(values: readonly number[]): number {
  return percentile([...values].sort((a, b) => a - b), 50);
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** An open client socket whose banner (first upstream byte) has arrived. */
interface Opened {
  ws: WebSocket;
  /** Replaced by each measurement; the banner handler runs first. */
  onMessage: (data: Buffer) => void;
}

function openSocket(url: string, options: { protocols?: string[]; headers?: Record<string, string>; ca?: string }): Promise<Opened> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, options.protocols ?? ['binary'], {
      perMessageDeflate: false,
      maxPayload: 64 * MiB,
      headers: options.headers ?? {},
      ...(options.ca ? { ca: options.ca } : {}),
    });
    const opened: Opened = { ws, onMessage: () => undefined };
    let bannerSeen = false;
    // Attached before 'open': the banner can arrive in the same read as the 101.
    ws.on('message', (data: Buffer) => {
      if (!bannerSeen) {
        bannerSeen = true;
        if (!data.equals(BANNER)) reject(new Error('unexpected first frame'));
        else resolve(opened);
        return;
      }
      opened.onMessage(data);
    });
    ws.once('close', (code) => reject(new Error(`closed with ${code} before the banner`)));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`upgrade refused: HTTP ${res.statusCode}`)));
  });
}

function closeSocket(opened: Opened): Promise<void> {
  return new Promise((resolve) => {
    if (opened.ws.readyState === WebSocket.CLOSED) return resolve();
    opened.ws.removeAllListeners('close');
    opened.ws.removeAllListeners('error');
    opened.ws.on('error', () => undefined);
    opened.ws.once('close', () => resolve());
    opened.ws.close(1000);
    setTimeout(() => {
      opened.ws.terminate();
      resolve();
    }, 3000).unref();
  });
}

/** CPU ms per GiB relayed by each process of one path: the proxy (none for direct), the upstream, the client. */
interface CpuPerGiB {
  proxy: number;
  upstream: number;
  client: number;
}

async function measureThroughput(open: () => Promise<Opened>, pids: { proxy?: number; upstream: number }, bytes = BULK_BYTES): Promise<{ mibps: number; cpu: CpuPerGiB }> {
  const s = await open();
  let received = 0;
  const cpu0 = { proxy: pids.proxy === undefined ? 0 : cpuMs(pids.proxy), upstream: cpuMs(pids.upstream), client: process.cpuUsage() };
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    s.onMessage = (data) => {
      received += data.length;
      if (received >= bytes) resolve();
    };
    s.ws.send(bulkCommand(bytes, FRAME_BYTES));
  });
  const seconds = Number(process.hrtime.bigint() - start) / 1e9;
  const gib = bytes / (1024 * MiB);
  const clientUsage = process.cpuUsage(cpu0.client);
  const cpu: CpuPerGiB = {
    proxy: pids.proxy === undefined ? 0 : (cpuMs(pids.proxy) - cpu0.proxy) / gib,
    upstream: (cpuMs(pids.upstream) - cpu0.upstream) / gib,
    client: (clientUsage.user + clientUsage.system) / 1000 / gib,
  };
  await closeSocket(s);
  return { mibps: bytes / MiB / seconds, cpu };
}

async function echoOnce(s: Opened, payload: Buffer): Promise<number> {
  const start = process.hrtime.bigint();
  await new Promise<void>((resolve) => {
    s.onMessage = () => resolve();
    s.ws.send(payload);
  });
  return Number(process.hrtime.bigint() - start) / 1e6;
}

/**
 * Round trips on every path, interleaved in batches of 50, so a burst of load from elsewhere on
 * the machine lands on all paths alike instead of on whichever ran at that moment.
 */
async function measureLatency(openers: Partial<Record<PathName, () => Promise<Opened>>>): Promise<Partial<Record<PathName, { p50: number; p99: number }>>> {
  const paths = Object.keys(openers) as PathName[];
  const sockets = new Map<PathName, Opened>();
  for (const path of paths) sockets.set(path, await openers[path]!());
  const payload = Buffer.alloc(8, 7);
  const samples = new Map<PathName, number[]>(paths.map((p) => [p, []]));
  // Unmeasured round trips first, on every path alike: the sockets, and the JIT of every process
  // on the path. 200 were too few for the gateway's small-frame path (V8 optimises it after a
  // few thousand frames): the first repetition's p99 then measured compilation, not relaying,
  // and a gateway that has run for a minute does not compile any more.
  for (const path of paths) for (let i = 0; i < LATENCY_WARMUP; i++) await echoOnce(sockets.get(path)!, payload);
  for (let batch = 0; batch < ECHOES / 50; batch++) {
    for (let k = 0; k < paths.length; k++) {
      const path = paths[(batch + k) % paths.length]!;
      for (let i = 0; i < 50; i++) samples.get(path)!.push(await echoOnce(sockets.get(path)!, payload));
    }
  }
  const result: Partial<Record<PathName, { p50: number; p99: number }>> = {};
  for (const path of paths) {
    const sorted = samples.get(path)!.sort((a, b) => a - b);
    result[path] = { p50: percentile(sorted, 50), p99: percentile(sorted, 99) };
    await closeSocket(sockets.get(path)!);
  }
  return result;
}

async function main(): Promise<void> {
  const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-bench-'));
  const tls = await createSelfSignedCertificate(dir);
  const idp = await createLocalIdp({ dir });
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, 'rules:\n  - groups: [bench]\n    instances: ["*"]\n    role: operator\n');
  const token = await idp.sign({ sub: 'bench', email: 'bench@example.com', groups: ['bench'] }, { expiresInSeconds: 3600 });
  const children: Child[] = [];
  let nginx: RunningNginx | undefined;
  const cleanup = async (): Promise<void> => {
    await nginx?.stop();
    for (const child of children) await stopChild(child);
  };
  process.on('SIGINT', () => void cleanup().finally(() => process.exit(130)));
  // A failed measurement must not leave nginx (its own process group) behind.
  process.on('unhandledRejection', (error) => {
    process.stderr.write(`bench failed: ${error instanceof Error ? error.message : String(error)}\n`);
    void cleanup().finally(() => process.exit(1));
  });
  process.on('exit', () => {
    if (nginx !== undefined) {
      try {
        process.kill(-nginx.pid, 'SIGTERM');
      } catch {
        // already gone
      }
    }
  });

  try {
    const twin = await forkChild('upstream-twin.ts', { BENCH_CERT: tls.certPath, BENCH_KEY: tls.keyPath, BENCH_INSTANCES: '64' });
    children.push(twin);
    const twinPort = twin.message.twinPort as number;
    const instances = twin.message.instances as string[];
    const gatewayEnv = (extra: Record<string, string>): Record<string, string> => ({
      PORT: '0',
      HOST: '127.0.0.1',
      TENCENTCLOUD_SECRET_ID: DEMO_CREDENTIALS.secretId,
      TENCENTCLOUD_SECRET_KEY: DEMO_CREDENTIALS.secretKey,
      TENCENTCLOUD_LIGHTHOUSE_ENDPOINT: twin.message.apiUrl as string,
      TENCENTCLOUD_CVM_ENDPOINT: twin.message.apiUrl as string,
      UPSTREAM_HOSTS: 'localhost',
      AUTH_PUBLIC_KEY_FILE: idp.publicKeyFile,
      AUTH_ISSUER: idp.issuer,
      AUTH_AUDIENCE: idp.audience,
      POLICY_FILE: policyFile,
      LOG_LEVEL: 'warn',
      // The default audit sink (stdout, discarded here); --audit-file measures the fsynced file sink.
      ...(flag('audit-file') ? { AUDIT_STDOUT: 'false', AUDIT_FILE: join(dir, `audit-${extra.BENCH_UNLIMITED ?? '0'}.jsonl`) } : {}),
      NODE_EXTRA_CA_CERTS: tls.certPath,
      // One bench user opens every session: lift the per-user limits (operator settings).
      USER_SESSIONS_PER_MINUTE: '10000',
      USER_MAX_SESSIONS: '10000',
      ...extra,
    });
    const profile = flag('cpu-prof') ? ['--cpu-prof', `--cpu-prof-dir=${join(dir, 'profiles')}`] : [];
    const gateway = await forkChild('gateway-child.ts', gatewayEnv({}), profile);
    children.push(gateway);
    const gatewayPort = gateway.message.port as number;

    const nginxBinary = findNginx();
    if (nginxBinary === undefined) process.stderr.write(`${NGINX_INSTALL_HINT}\n`);
    else nginx = await startNginx(nginxBinary, dir, twinPort, tls.certPath);

    let instanceCursor = 0;
    const nextInstance = (): string => instances[instanceCursor++ % instances.length] ?? 'lhins-bnch0000';
    const ticketFor = async (instanceId: string, port = gatewayPort): Promise<string> => {
      const res = await fetch(`http://127.0.0.1:${port}/api/v1/instances/${instanceId}/tickets`, {
        method: 'POST',
        headers: { Authorization: `Bearer ${token}`, 'Content-Type': 'application/json' },
        body: '{}',
      });
      if (res.status !== 201) throw new Error(`ticket refused: HTTP ${res.status} ${await res.text()}`);
      return ((await res.json()) as { ticket: string }).ticket;
    };
    const openers: Partial<Record<PathName, () => Promise<Opened>>> = {
      direct: () => openSocket(`wss://localhost:${twinPort}/vnc?s=bench`, { ca: tls.cert }),
      gateway: async () => {
        const instanceId = nextInstance();
        return openSocket(`ws://127.0.0.1:${gatewayPort}/ws/instances/${instanceId}`, { protocols: ['binary', `vnc-gateway.ticket.${await ticketFor(instanceId)}`] });
      },
      ...(nginx ? { nginx: () => openSocket(`ws://127.0.0.1:${nginx!.port}/vnc?s=bench`, {}) } : {}),
    };
    const paths = (Object.keys(openers) as PathName[]).sort();

    const throughput: Record<string, number[]> = {};
    const cpuPerGiB: Record<string, CpuPerGiB[]> = {};
    const proxyPid: Partial<Record<PathName, number>> = { gateway: gateway.process.pid ?? Number.NaN, ...(nginx ? { nginx: nginxWorkerPid(nginx.pid) } : {}) };
    const latency: Record<string, { p50: number[]; p99: number[] }> = {};
    if (!skip.has('throughput')) {
      // One unmeasured transfer per path first: every process on it (the gateway's JIT above all)
      // reaches its steady state before the first measured repetition, as a long-running proxy is.
      for (const path of paths) {
        await measureThroughput(openers[path]!, { ...(proxyPid[path] === undefined ? {} : { proxy: proxyPid[path] }), upstream: twin.process.pid ?? Number.NaN }, THROUGHPUT_WARMUP_BYTES);
      }
    }
    if (!skip.has('throughput') || !skip.has('latency')) {
      for (let rep = 0; rep < REPS; rep++) {
        // Rotate the order each repetition so no path always runs first (or last) on a busy box.
        const order = paths.map((_, i) => paths[(i + rep) % paths.length]!);
        for (const path of order) {
          const open = openers[path]!;
          if (!skip.has('throughput')) {
            const { mibps, cpu } = await measureThroughput(open, { ...(proxyPid[path] === undefined ? {} : { proxy: proxyPid[path] }), upstream: twin.process.pid ?? Number.NaN });
            (throughput[path] ??= []).push(mibps);
            (cpuPerGiB[path] ??= []).push(cpu);
            process.stderr.write(
              `rep ${rep + 1}/${REPS} ${path}: throughput ${mibps.toFixed(0)} MiB/s; CPU ms per GiB: proxy ${cpu.proxy.toFixed(0)}, upstream ${cpu.upstream.toFixed(0)}, client ${cpu.client.toFixed(0)}\n`,
            );
          }
        }
        if (!skip.has('latency')) {
          const measured = await measureLatency(openers);
          for (const path of paths) {
            const l = measured[path]!;
            const entry = (latency[path] ??= { p50: [], p99: [] });
            entry.p50.push(l.p50);
            entry.p99.push(l.p99);
            process.stderr.write(`rep ${rep + 1}/${REPS} ${path}: echo p50 ${l.p50.toFixed(3)} ms p99 ${l.p99.toFixed(3)} ms\n`);
          }
        }
      }
    }

    let setup: { p50: number; p99: number; ticketP50: number } | undefined;
    if (!skip.has('setup')) {
      const totals: number[] = [];
      const tickets: number[] = [];
      const pending: Promise<void>[] = [];
      const interval = 1000 / SETUP_RATE_PER_S;
      // Ten unmeasured sessions first, so a cold JIT and the first TLS handshakes are not the tail.
      for (let i = 0; i < 10; i++) {
        const instanceId = nextInstance();
        await closeSocket(await openSocket(`ws://127.0.0.1:${gatewayPort}/ws/instances/${instanceId}`, { protocols: ['binary', `vnc-gateway.ticket.${await ticketFor(instanceId)}`] }));
        await sleep(interval);
      }
      const started = Date.now();
      for (let i = 0; i < SETUP_SESSIONS; i++) {
        // A steady rate: each session starts on its slot, whatever the previous one did.
        const wait = started + i * interval - Date.now();
        if (wait > 0) await sleep(wait);
        pending.push(
          (async () => {
            const instanceId = nextInstance();
            const t0 = process.hrtime.bigint();
            const ticket = await ticketFor(instanceId);
            const t1 = process.hrtime.bigint();
            const s = await openSocket(`ws://127.0.0.1:${gatewayPort}/ws/instances/${instanceId}`, { protocols: ['binary', `vnc-gateway.ticket.${ticket}`] });
            const t2 = process.hrtime.bigint();
            totals.push(Number(t2 - t0) / 1e6);
            tickets.push(Number(t1 - t0) / 1e6);
            await closeSocket(s);
          })(),
        );
      }
      await Promise.all(pending);
      totals.sort((a, b) => a - b);
      setup = { p50: percentile(totals, 50), p99: percentile(totals, 99), ticketP50: median(tickets) };
      process.stderr.write(`setup: p50 ${setup.p50.toFixed(1)} ms p99 ${setup.p99.toFixed(1)} ms (ticket p50 ${setup.ticketP50.toFixed(1)} ms)\n`);
    }

    // The scale phase gets a fresh gateway of its own (admitting every session at once) and the
    // box to itself: the first gateway and nginx are stopped.
    await stopChild(gateway);
    await nginx?.stop();
    nginx = undefined;
    let scale: { sessions: number; perSessionKiB: number; baselineMiB: number; loadedMiB: number } | undefined;
    if (!skip.has('scale')) {
      const big = await forkChild('gateway-child.ts', gatewayEnv({ BENCH_UNLIMITED: '1' }));
      children.push(big);
      const pid = big.message.pid as number;
      const port = big.message.port as number;
      const open = (): Promise<Opened> =>
        openSocket(`ws://127.0.0.1:${port}/ws/instances/${nextInstance()}`, { headers: { Authorization: `Bearer ${token}` } });
      // Warm up: code paths compiled, pools allocated, then released.
      const warm = await Promise.all(Array.from({ length: 50 }, () => open()));
      await Promise.all(warm.map(closeSocket));
      await sleep(1500);
      const baseline = rssBytes(pid);
      const live: Opened[] = [];
      let next = 0;
      const worker = async (): Promise<void> => {
        while (next < SCALE_SESSIONS) {
          next++;
          live.push(await open());
        }
      };
      await Promise.all(Array.from({ length: 64 }, worker));
      await sleep(3000);
      const loaded = rssBytes(pid);
      scale = { sessions: live.length, perSessionKiB: (loaded - baseline) / live.length / 1024, baselineMiB: baseline / MiB, loadedMiB: loaded / MiB };
      process.stderr.write(`scale: ${live.length} sessions, RSS ${scale.baselineMiB.toFixed(0)} → ${scale.loadedMiB.toFixed(0)} MiB, ${scale.perSessionKiB.toFixed(1)} KiB/session\n`);
      for (const s of live) s.ws.terminate();
      await stopChild(big);
    }

    // The table.
    const fmt = (n: number | undefined, digits = 1): string => (n === undefined || Number.isNaN(n) ? '–' : n.toFixed(digits));
    const ratio = (a: number | undefined, b: number | undefined): string => (a === undefined || b === undefined ? '–' : `${(a / b).toFixed(2)}×`);
    const tp = (p: PathName): number | undefined => (throughput[p] ? median(throughput[p]) : undefined);
    const cpuProxy = (p: PathName): number | undefined => (cpuPerGiB[p] ? median(cpuPerGiB[p].map((c) => c.proxy)) : undefined);
    const l50 = (p: PathName): number | undefined => (latency[p] ? median(latency[p].p50) : undefined);
    const l99 = (p: PathName): number | undefined => (latency[p] ? median(latency[p].p99) : undefined);
    const verdict = (ok: boolean | undefined): string => (ok === undefined ? '–' : ok ? 'met' : 'missed');
    const lines = [
      `| measure | gateway | nginx | direct | gateway ÷ nginx | gateway ÷ direct | target |`,
      `|---|---|---|---|---|---|---|`,
      `| throughput, MiB/s (${BULK_BYTES / MiB} MiB in 64 KiB frames) | ${fmt(tp('gateway'), 0)} | ${fmt(tp('nginx'), 0)} | ${fmt(tp('direct'), 0)} | ${ratio(tp('gateway'), tp('nginx'))} | ${ratio(tp('gateway'), tp('direct'))} | ≥ 0.9× nginx: ${verdict(tp('nginx') === undefined ? undefined : tp('gateway')! >= 0.9 * tp('nginx')!)} |`,
      `| proxy CPU, ms per GiB relayed (user + system) | ${fmt(cpuProxy('gateway'), 0)} | ${fmt(cpuProxy('nginx'), 0)} | | ${ratio(cpuProxy('gateway'), cpuProxy('nginx'))} | | |`,
      `| echo p50, ms (8-byte messages) | ${fmt(l50('gateway'), 3)} | ${fmt(l50('nginx'), 3)} | ${fmt(l50('direct'), 3)} | ${ratio(l50('gateway'), l50('nginx'))} | ${ratio(l50('gateway'), l50('direct'))} | ≤ 1.2× nginx: ${verdict(l50('nginx') === undefined ? undefined : l50('gateway')! <= 1.2 * l50('nginx')!)} |`,
      `| echo p99, ms | ${fmt(l99('gateway'), 3)} | ${fmt(l99('nginx'), 3)} | ${fmt(l99('direct'), 3)} | ${ratio(l99('gateway'), l99('nginx'))} | ${ratio(l99('gateway'), l99('direct'))} | ≤ 2× nginx: ${verdict(l99('nginx') === undefined ? undefined : l99('gateway')! <= 2 * l99('nginx')!)} |`,
      `| setup p50 / p99, ms (ticket → first upstream byte, ${SETUP_RATE_PER_S}/s) | ${fmt(setup?.p50)} / ${fmt(setup?.p99)} | | | | | p99 ≤ 50 ms: ${verdict(setup === undefined ? undefined : setup.p99 <= 50)} |`,
      `| RSS per idle session, KiB (${scale?.sessions ?? SCALE_SESSIONS} sessions) | ${fmt(scale?.perSessionKiB)} | | | | | ≤ 100 KiB: ${verdict(scale === undefined ? undefined : scale.perSessionKiB <= 100)} |`,
    ];
    const cpu = cpus()[0]?.model ?? 'unknown';
    process.stdout.write(`\nvnc-gateway bench — ${cpus().length} CPUs (${cpu}), Node ${process.version}, ${REPS} repetition(s), medians\n\n${lines.join('\n')}\n`);
    if (profile.length > 0) process.stdout.write(`\nGateway CPU profile(s): ${join(dir, 'profiles')}\n`);
  } finally {
    await cleanup();
  }
}

main().catch((error: unknown) => {
  process.stderr.write(`bench failed: ${error instanceof Error ? error.stack : String(error)}\n`);
  process.exit(1);
});
