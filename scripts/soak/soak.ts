// `npm run soak`: two gateway replicas (child processes) sharing a throwaway Redis, the
// simulator with many echo instances, and a few hundred client sessions held for minutes
// while faults are injected at random: clients vanishing, stopping reading or going idle,
// upstreams closing or stalling, the Tencent API failing, hanging or throttling, Redis
// restarted, a replica SIGTERMed and started again. Prints the table and the invariants;
// exits 1 if any invariant fails.
//
// Flags: --duration S (180), --sessions N (300), --instances N (64), --users N (60),
//        --fault-every S (3), --seed N (1).

import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join } from 'node:path';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { verifyFiles } from '../../gateway/audit/audit-verify.js';
import { createSelfSignedCertificate, DEMO_CREDENTIALS, startSimulator, type SimInstance } from '../../simulator/index.js';
import { createThrowawayRedis } from '../../test/integration/state/throwaway-redis.js';
import { createLocalIdp } from '../demo/local-idp.js';
import { renderReport, type Invariant, type ReplicaRow } from './soak-report.js';
import { startReplica, type ReplicaMemory, type SoakReplica } from './soak-replica.js';
import { SoakSession, type Outcome } from './soak-session.js';

const args = parseArgs(process.argv.slice(2));
const DURATION_S = args.duration ?? 180;
const SESSIONS = args.sessions ?? 300;
const INSTANCES = args.instances ?? 64;
const USERS = args.users ?? 60;
const FAULT_EVERY_S = args['fault-every'] ?? 3;
let seed = args.seed ?? 1;

/** Lifecycle settings of the soak's gateways (budgets stay Tencent's: 10 calls/s, 30 connects/instance/min). */
const GATEWAY_SETTINGS = {
  KEEPALIVE_INTERVAL_S: 10,
  IDLE_TIMEOUT_S: 20,
  SLOW_CONSUMER_S: 5,
  SHUTDOWN_GRACE_S: 5,
  MAX_SESSION_S: 300,
  SESSION_TTL_S: 15,
} as const;
const CLOSE_TIMEOUT_S = 5; // the relay's close handshake bound
const SLACK_S = 5; // scheduling slack on two shared cores
const BOUNDS = {
  setupMs: (8 + 10 + 2 + SLACK_S) * 1000, // SESSION_CONNECT_DEADLINE_MS + UPSTREAM_CONNECT_TIMEOUT_MS + API budget wait
  closeMs: (CLOSE_TIMEOUT_S + SLACK_S) * 1000,
};
const SLOW_PAUSE_MS = (GATEWAY_SETTINGS.KEEPALIVE_INTERVAL_S * 2 + CLOSE_TIMEOUT_S + SLACK_S) * 1000;
const FAULT_BOUND_MS: Record<string, number> = {
  client_vanished: BOUNDS.closeMs,
  slow_consumer: SLOW_PAUSE_MS + BOUNDS.closeMs,
  client_idle: (GATEWAY_SETTINGS.IDLE_TIMEOUT_S + CLOSE_TIMEOUT_S + SLACK_S) * 1000,
  upstream_closed: BOUNDS.closeMs,
  upstream_stalled: (GATEWAY_SETTINGS.KEEPALIVE_INTERVAL_S * 2 + CLOSE_TIMEOUT_S + SLACK_S) * 1000,
  replica_sigterm: (GATEWAY_SETTINGS.SHUTDOWN_GRACE_S + CLOSE_TIMEOUT_S + SLACK_S) * 1000,
};

function parseArgs(argv: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (let i = 0; i < argv.length; i++) {
    const name = argv[i]?.replace(/^--/, '') ?? '';
    const value = Number(argv[i + 1]);
    if (!Number.isFinite(value) || value <= 0) throw new Error(`usage: npm run soak -- [--duration S] [--sessions N] [--instances N] [--users N] [--fault-every S] [--seed N] (bad ${argv[i]})`);
    out[name] = value;
    i++;
  }
  return out;
}

/** mulberry32: a small seeded PRNG so a run's choices can be repeated. */
function random(): number {
  seed = (seed + 0x6d2b79f5) | 0;
  let t = seed;
  t = Math.imul(t ^ (t >>> 15), t | 1);
  t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
  return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
}
const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const bump = (map: Map<string, number>, key: string, by = 1): void => void map.set(key, (map.get(key) ?? 0) + by);
const log = (text: string): void => void process.stderr.write(`[soak +${((Date.now() - t0) / 1000).toFixed(0)}s] ${text}\n`);
const t0 = Date.now();

async function main(): Promise<number> {
  const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-soak-'));
  const tls = await createSelfSignedCertificate(dir);
  const instances: SimInstance[] = Array.from({ length: INSTANCES }, (_, i) => ({ id: `lhins-soak${String(i).padStart(4, '0')}`, state: 'RUNNING', vnc: { kind: 'echo' } }));
  const simulator = await startSimulator({ tls: { cert: tls.cert, key: tls.key }, instances });
  const idp = await createLocalIdp({ dir });
  const policyFile = join(dir, 'policy.yaml');
  writeFileSync(policyFile, 'rules:\n  - groups: [sre]\n    instances: ["lhins-soak*"]\n    role: operator\n');
  const redis = await createThrowawayRedis();
  await redis.start();
  const env: Record<string, string> = {
    PORT: '0',
    HOST: '127.0.0.1',
    NODE_EXTRA_CA_CERTS: tls.certPath,
    TENCENTCLOUD_SECRET_ID: DEMO_CREDENTIALS.secretId,
    TENCENTCLOUD_SECRET_KEY: DEMO_CREDENTIALS.secretKey,
    TENCENTCLOUD_LIGHTHOUSE_ENDPOINT: simulator.apiUrl,
    TENCENTCLOUD_CVM_ENDPOINT: simulator.apiUrl,
    UPSTREAM_HOSTS: 'localhost',
    AUTH_PUBLIC_KEY_FILE: idp.publicKeyFile,
    AUTH_ISSUER: idp.issuer,
    AUTH_AUDIENCE: idp.audience,
    POLICY_FILE: policyFile,
    REDIS_URL: `redis://127.0.0.1:${redis.port}`,
    LOG_LEVEL: 'info',
    ...Object.fromEntries(Object.entries(GATEWAY_SETTINGS).map(([k, v]) => [k, String(v)])),
  };
  const tokens = await Promise.all(Array.from({ length: USERS }, (_, i) => idp.sign({ sub: `soak-user${i}`, email: `soak-user${i}@example.com`, groups: ['sre'] }, { expiresInSeconds: 4 * 3600 })));

  const incarnations: SoakReplica[] = [];
  const baselines = new Map<SoakReplica, ReplicaMemory>();
  const current = new Map<string, SoakReplica>();
  const unexpectedExits: string[] = [];
  let generation = 0;
  const launch = async (name: string): Promise<SoakReplica> => {
    const replica = await startReplica(`${name}#${++generation}`, env, join(dir, `audit-${name}-${generation}.jsonl`));
    incarnations.push(replica);
    current.set(name, replica);
    return replica;
  };
  await Promise.all([launch('a'), launch('b')]);
  log(`replicas up; Redis on ${redis.port}; ${INSTANCES} echo instances; work dir ${dir}`);

  // Counters.
  let attempted = 0;
  let relayed = 0;
  const refused = new Map<string, number>();
  const endedClient = new Map<string, number>();
  const faults = new Map<string, number>();
  const hangs: string[] = [];
  let mismatches = 0;
  let bytesVerified = 0;
  const live = new Set<SoakSession>();

  const record = (session: SoakSession, outcome: Outcome): void => {
    live.delete(session);
    mismatches += session.mismatches;
    bytesVerified += session.bytesVerified;
    if (session.relayedAt !== undefined) relayed++;
    if (outcome.kind === 'refused') bump(refused, outcome.reason);
    else if (outcome.kind === 'relayed') bump(endedClient, `${outcome.endedBy}: ${outcome.closeCode}`);
    else hangs.push(`${outcome.stage} ${outcome.detail}`);
  };

  const available = (): SoakReplica[] => [...current.values()].filter((r) => !r.stopping && r.exit === undefined);
  const openOne = (plannedMs: number): SoakSession | undefined => {
    const replica = pick(available().length > 0 ? available() : [...current.values()]);
    attempted++;
    const session = new SoakSession(
      {
        wsUrl: replica.wsUrl,
        url: replica.url,
        instanceId: pick(instances).id,
        token: pick(tokens),
        useTicket: random() < 0.5,
        plannedEndAt: Date.now() + plannedMs,
        seed: Math.floor(random() * 2 ** 32),
      },
      BOUNDS,
      random,
    );
    live.add(session);
    void session.done.then((outcome) => record(session, outcome));
    return session;
  };

  // Watchdog: a session past its bound is hung (counted, then dropped so the run goes on).
  const watchdog = setInterval(() => {
    const now = Date.now();
    for (const session of live) if (now > session.mustEndBy) session.declareHung();
    for (const replica of incarnations) {
      if (replica.exit !== undefined && !replica.stopping && !unexpectedExits.includes(replica.name)) {
        unexpectedExits.push(replica.name);
        log(`replica ${replica.name} EXITED on its own (${replica.exit.code ?? replica.exit.signal})`);
      }
    }
  }, 500);

  // Warm-up, so the baseline is a gateway that has served (modules loaded, code compiled).
  log('warm-up');
  const warm = Array.from({ length: 20 }, () => openOne(2000));
  await Promise.all(warm.map((s) => s?.done));
  await sleep(3000);
  for (const replica of current.values()) baselines.set(replica, await replica.memory());

  // Load: SESSIONS slots, each opening sessions one after another, ramped up at ~7 starts/s.
  log(`load: ${SESSIONS} concurrent sessions for ${DURATION_S} s`);
  const loadStart = Date.now();
  const loadEnds = loadStart + DURATION_S * 1000;
  let loadOver = false;
  const slot = async (index: number): Promise<void> => {
    await sleep(index * 140);
    while (!loadOver) {
      // Sessions of 15-75 s: about 7 starts/s at 300 sessions, inside Tencent's 10 calls/s.
      const session = openOne(15_000 + random() * 60_000);
      const outcome = await session?.done;
      if (loadOver) break;
      await sleep(outcome?.kind === 'refused' ? 1000 + random() * 3000 : 200 + random() * 1500);
    }
  };
  const slots = Array.from({ length: SESSIONS }, (_, i) => slot(i));

  // Faults: one every FAULT_EVERY_S at random; a Redis restart and a replica SIGTERM at random
  // times in set windows, so every run has both.
  const liveSessions = (): SoakSession[] => [...live].filter((s) => s.live && s.fault === undefined);
  const withFault = (session: SoakSession, fault: string): void => {
    session.fault = fault;
    session.mustEndBy = Date.now() + (FAULT_BOUND_MS[fault] ?? BOUNDS.closeMs);
  };
  const apiFaults = ['InternalError', 'RequestLimitExceeded', 'ServiceUnavailable', 'dropped', 'hung', 'FailedOperation'] as const;
  const randomFault = (): void => {
    const kind = pick(['vanish', 'vanish', 'slow', 'idle', 'upstream-close', 'upstream-close', 'stall', 'api', 'api', 'api'] as const);
    const sessions = liveSessions();
    const victim = sessions.length > 0 ? pick(sessions) : undefined;
    if (kind === 'api') {
      const code = pick(apiFaults);
      const count = 1 + Math.floor(random() * 3);
      simulator.injectError({ code: code === 'dropped' || code === 'hung' ? 'InternalError' : code, count, ...(code === 'dropped' ? { drop: true } : {}), ...(code === 'hung' ? { hang: true } : {}) });
      bump(faults, `API ${code}`, count);
      return;
    }
    if (victim === undefined) return;
    if (kind === 'vanish') {
      withFault(victim, 'client_vanished');
      bump(faults, 'client vanished');
      victim.vanish();
    } else if (kind === 'slow') {
      withFault(victim, 'slow_consumer');
      bump(faults, 'client stopped reading');
      victim.stopReading(SLOW_PAUSE_MS, 60 * 1024, 24 * 1024 * 1024);
    } else if (kind === 'idle') {
      withFault(victim, 'client_idle');
      bump(faults, 'client idle');
      victim.goIdle();
    } else {
      const id = victim.target.instanceId;
      const affected = sessions.filter((s) => s.target.instanceId === id);
      if (kind === 'upstream-close') {
        for (const s of affected) withFault(s, 'upstream_closed');
        bump(faults, 'upstream closed (instance STOPPED for 3 s)');
        bump(faults, 'sessions on a closed upstream', affected.length);
        simulator.setInstanceState(id, 'STOPPED');
        setTimeout(() => simulator.setInstanceState(id, 'RUNNING'), 3000);
      } else {
        for (const s of affected) withFault(s, 'upstream_stalled');
        bump(faults, 'upstream stalled');
        bump(faults, 'sessions on a stalled upstream', affected.length);
        simulator.stallInstance(id, 60_000);
      }
    }
  };
  const faultTimer = setInterval(() => {
    if (!loadOver) randomFault();
  }, FAULT_EVERY_S * 1000);

  const heavyFaults = (async () => {
    // Redis restarted somewhere in 20-40 % of the run.
    await sleep(DURATION_S * 1000 * (0.2 + random() * 0.2));
    log('fault: Redis restart');
    bump(faults, 'Redis restarted');
    await redis.shutdown();
    await sleep(3000);
    await redis.start();
    log('Redis back');
    // A replica SIGTERMed somewhere in 50-70 % of the run, then started again.
    await sleep(Math.max(0, loadStart + DURATION_S * 1000 * (0.5 + random() * 0.2) - Date.now()));
    const name = pick(['a', 'b']);
    const victim = current.get(name);
    if (victim === undefined) return;
    const onIt = liveSessions().filter((s) => s.target.wsUrl === victim.wsUrl);
    for (const s of onIt) withFault(s, 'replica_sigterm');
    bump(faults, 'replica SIGTERMed and restarted');
    bump(faults, 'sessions on the SIGTERMed replica', onIt.length);
    log(`fault: SIGTERM ${victim.name} with ${onIt.length} live sessions`);
    const exit = await victim.stop((GATEWAY_SETTINGS.SHUTDOWN_GRACE_S + 30) * 1000);
    log(`${victim.name} exited (${exit.code ?? exit.signal}); starting it again`);
    const again = await launch(name);
    baselines.set(again, await again.memory());
  })();

  await sleep(loadEnds - Date.now());
  loadOver = true;
  clearInterval(faultTimer);
  await heavyFaults;
  log(`load over: closing ${live.size} sessions`);
  for (const session of live) session.closeNow();
  const drainBound = Math.max(...Object.values(FAULT_BOUND_MS), BOUNDS.setupMs) + 10_000;
  await Promise.race([Promise.all(slots), sleep(drainBound)]);
  await sleep(1000);
  for (const session of live) session.declareHung();
  clearInterval(watchdog);

  // Memory after the load: a full GC, then /metrics.
  await sleep(5000);
  const finals = new Map<SoakReplica, ReplicaMemory>();
  for (const replica of current.values()) finals.set(replica, await replica.memory());
  const peaks = new Map(incarnations.map((r) => [r, r.peakRssBytes]));

  // Stop the fleet: the audit files are complete once the processes exit.
  const exits = new Map<SoakReplica, string>();
  for (const replica of current.values()) {
    const exit = await replica.stop(30_000);
    exits.set(replica, String(exit.code ?? exit.signal));
  }
  for (const replica of incarnations) if (!exits.has(replica)) exits.set(replica, String(replica.exit?.code ?? replica.exit?.signal ?? '?'));
  redis.kill();
  await simulator.close();

  // The audit trails: each chain intact; one start and one end per session, fleet-wide.
  const chains: string[] = [];
  const started = new Map<string, number>();
  const ended = new Map<string, number>();
  const endedGateway = new Map<string, number>();
  const servedBy = new Map<SoakReplica, number>();
  for (const replica of incarnations) {
    const result = await verifyFiles([replica.auditFile]);
    chains.push(result.ok ? `${replica.name}: ${result.records} records intact` : `${replica.name}: BROKEN at ${result.index}: ${result.reason}`);
    for (const line of readFileSync(replica.auditFile, 'utf8').split('\n')) {
      if (line === '') continue;
      const r = JSON.parse(line) as AuditRecord & { sessionId?: string; reason?: string; closeCode?: number };
      if (r.type === 'session.started' && r.sessionId) {
        bump(started, r.sessionId);
        servedBy.set(replica, (servedBy.get(replica) ?? 0) + 1);
      }
      if (r.type === 'session.ended' && r.sessionId) {
        bump(ended, r.sessionId);
        bump(endedGateway, `${r.reason} (${r.closeCode})`);
      }
    }
  }
  const unpaired = [...new Set([...started.keys(), ...ended.keys()])].filter((id) => started.get(id) !== 1 || ended.get(id) !== 1);

  // Invariants.
  const replicaRows: ReplicaRow[] = incarnations.map((r) => ({
    name: r.name,
    baselineRssBytes: baselines.get(r)?.rssBytes ?? NaN,
    peakRssBytes: peaks.get(r) ?? NaN,
    finalRssBytes: finals.get(r)?.rssBytes ?? NaN,
    baselineHeapBytes: baselines.get(r)?.heapUsedBytes ?? NaN,
    finalHeapBytes: finals.get(r)?.heapUsedBytes ?? NaN,
    sessionsServed: servedBy.get(r) ?? 0,
    exit: r.exit === undefined ? 'running' : `${exits.get(r)}${r.stopping ? ' after SIGTERM' : ' UNEXPECTED'}`,
  }));
  const MiB = 1024 * 1024;
  const memoryDetail: string[] = [];
  let memoryOk = true;
  for (const [replica, final] of finals) {
    const base = baselines.get(replica);
    if (base === undefined) continue;
    const heapGrowth = final.heapUsedBytes - base.heapUsedBytes;
    const rssGrowth = final.rssBytes - base.rssBytes;
    // Near baseline: the heap after a full GC within 16 MiB, RSS within 64 MiB (V8 and malloc keep some pages),
    // no live session left, and no more handles than at the baseline (plus a few pooled sockets).
    const ok = heapGrowth <= 16 * MiB && rssGrowth <= 64 * MiB && final.liveSessions === 0 && final.activeHandles <= base.activeHandles + 8;
    memoryOk &&= ok;
    memoryDetail.push(`${replica.name}: heap ${heapGrowth >= 0 ? '+' : ''}${(heapGrowth / MiB).toFixed(1)} MiB, RSS ${rssGrowth >= 0 ? '+' : ''}${(rssGrowth / MiB).toFixed(1)} MiB, handles ${base.activeHandles}→${final.activeHandles}, live sessions ${final.liveSessions}`);
  }
  const healthPolls = incarnations.reduce((n, r) => n + r.health.polls, 0);
  const healthFailures = incarnations.filter((r) => r.health.failures > 0).map((r) => `${r.name}: ${r.health.failures} (${r.health.lastFailure})`);
  const crashed = incarnations.filter((r) => !r.stopping || (r.exit !== undefined && r.exit.code !== 0));
  const invariants: Invariant[] = [
    {
      name: 'no crash; /healthz always answered',
      pass: crashed.length === 0 && unexpectedExits.length === 0 && healthFailures.length === 0 && healthPolls > 0,
      detail: `${incarnations.length} processes, each exited 0 only when SIGTERMed: ${crashed.length === 0 ? 'yes' : crashed.map((r) => r.name).join(', ')}; ${healthPolls} health polls, ${healthFailures.length === 0 ? 'all 200 within 2 s' : healthFailures.join('; ')}`,
    },
    { name: 'memory returns near baseline', pass: memoryOk && finals.size > 0, detail: memoryDetail.join('; ') },
    {
      // Bounded under load, shutdown included: a few hundred sessions with 1 MiB backpressure queues fit in 256 MiB.
      name: 'memory bounded under load (peak RSS ≤ baseline + 256 MiB)',
      pass: incarnations.every((r) => (peaks.get(r) ?? Infinity) <= (baselines.get(r)?.rssBytes ?? 0) + 256 * MiB),
      detail: incarnations.map((r) => `${r.name}: +${(((peaks.get(r) ?? NaN) - (baselines.get(r)?.rssBytes ?? NaN)) / MiB).toFixed(0)} MiB`).join('; '),
    },
    { name: 'no session hangs', pass: hangs.length === 0, detail: hangs.length === 0 ? `every attempt ended within its bound (setup ${BOUNDS.setupMs / 1000} s, per fault up to ${Math.max(...Object.values(FAULT_BOUND_MS)) / 1000} s)` : `${hangs.length} hung: ${hangs.slice(0, 5).join('; ')}` },
    {
      name: 'one session.started and one session.ended per session; chains verify',
      pass: unpaired.length === 0 && chains.every((c) => c.endsWith('intact')) && started.size >= relayed,
      detail: `${started.size} sessions started (client saw ${relayed} relayed), ${unpaired.length} without exactly one of each; ${chains.join('; ')}`,
    },
    { name: 'no bytes reordered or altered', pass: mismatches === 0 && bytesVerified > 0, detail: `${(bytesVerified / MiB).toFixed(1)} MiB echoed and verified in order; ${mismatches} mismatched frames` },
  ];
  const problems = incarnations.flatMap((r) => r.problems.map((p) => `${r.name}: ${p}`));
  if (problems.length > 0) log(`warnings/errors logged by replicas: ${problems.length}; the first:\n${problems.slice(0, 3).join('\n')}`);

  process.stdout.write(
    `${renderReport({
      settings: [
        `${SESSIONS} concurrent sessions`,
        `${INSTANCES} echo instances`,
        `${USERS} users`,
        `a fault every ${FAULT_EVERY_S} s`,
        `seed ${args.seed ?? 1}`,
        Object.entries(GATEWAY_SETTINGS).map(([k, v]) => `${k}=${v}`).join(' '),
        `${cpus().length} × ${cpus()[0]?.model.trim() ?? 'cpu'}, ${(totalmem() / 1024 ** 3).toFixed(0)} GiB, Node ${process.version}`,
      ],
      attempted,
      relayed,
      refused,
      endedGateway,
      endedClient,
      faults,
      replicas: replicaRows,
      invariants,
      durationS: DURATION_S,
    })}\n`,
  );
  return invariants.every((i) => i.pass) ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`soak failed: ${error instanceof Error ? (error.stack ?? error.message) : String(error)}\n`);
    process.exit(2);
  },
);
