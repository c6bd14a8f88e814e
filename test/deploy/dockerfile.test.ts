// The container image without Docker: replays the Dockerfile's COPY and npm steps in a
// temporary directory (build stage: npm ci, npm run build; runtime stage: a production-only
// install plus exactly what the Dockerfile copies), then starts the runtime stage's CMD with a
// minimal valid environment and checks what an operator relies on: /healthz and /readyz
// answer, the console's browser files are there, the HEALTHCHECK command passes, SIGTERM
// ends the process cleanly, and nothing was written outside TMPDIR (a read-only root works).

import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { generateKeyPairSync } from 'node:crypto';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSelfSignedCertificate } from '../../simulator/index.js';
import { parseDockerfile, readDockerignore, replayDockerfile, type ReplayedStage } from '../helpers/dockerfile-steps.js';

const REPO = fileURLToPath(new URL('../../', import.meta.url));
const DOCKERFILE = readFileSync(join(REPO, 'Dockerfile'), 'utf8');

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

/** Every file under `dir` with its size and mtime: a fingerprint of what the process may have written. */
function snapshot(dir: string): Map<string, string> {
  const files = new Map<string, string>();
  const walk = (current: string): void => {
    for (const entry of readdirSync(current, { withFileTypes: true })) {
      const path = join(current, entry.name);
      if (entry.isDirectory()) walk(path);
      else {
        const stat = statSync(path);
        files.set(relative(dir, path), `${stat.size}:${stat.mtimeMs}`);
      }
    }
  };
  walk(dir);
  return files;
}

describe('the Dockerfile', () => {
  it('builds on a current Node LTS slim image and runs as a numeric non-root user under tini', () => {
    const { stages } = parseDockerfile(DOCKERFILE);
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.image).toMatch(/^node:(22|24)[\w.-]*-slim$/);
    const runtime = stages.at(-1)!;
    const instructions = runtime.instructions.map((i) => `${i.keyword} ${i.args}`);
    const user = instructions.filter((i) => i.startsWith('USER ')).at(-1);
    expect(user).toMatch(/^USER [1-9]\d*(:[1-9]\d*)?$/);
    expect(instructions.some((i) => /^ENTRYPOINT \["[^"]*tini", "--"\]$/.test(i))).toBe(true);
    expect(instructions.some((i) => i.startsWith('HEALTHCHECK ') && i.includes('/healthz'))).toBe(true);
  });

  it('copies nothing that .dockerignore leaves out of the build context', () => {
    const ignored = readDockerignore(join(REPO, '.dockerignore'));
    const { stages } = parseDockerfile(DOCKERFILE);
    const sources = stages.flatMap((s) => s.instructions)
      .filter((i) => i.keyword === 'COPY' && !i.args.includes('--from='))
      .flatMap((i) => i.args.split(/\s+/).filter((p) => !p.startsWith('--')).slice(0, -1));
    expect(sources.length).toBeGreaterThan(0);
    for (const source of sources) {
      const top = source.split('/')[0]!;
      expect(ignored, `${source} is excluded by .dockerignore`).not.toContain(top);
      expect(ignored).not.toContain(source);
    }
    expect(ignored).toEqual(expect.arrayContaining(['node_modules', 'dist', '.git']));
  });
});

describe('the image, replayed by hand', () => {
  let work: string;
  let stages: ReplayedStage[];
  let runtime: ReplayedStage;
  let child: ChildProcess | undefined;
  let port: number;
  let base: string;
  let before: Map<string, string>;
  const stderr: string[] = [];
  let exited: Promise<number | null>;
  let config: string;
  let auditFile: string;

  /** Runs one of the image's commands as `docker run IMAGE node …` would: the image's ENV and WORKDIR only. */
  const runInImage = (args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> =>
    new Promise((resolve) => {
      execFile(process.execPath, args, { cwd: runtime.workdir, env: { PATH: process.env.PATH ?? '', ...runtime.env, ...env }, timeout: 20_000 }, (error, stdout, stderr) =>
        resolve({ code: error === null ? 0 : typeof error.code === 'number' ? error.code : null, stdout, stderr }),
      );
    });

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'vnc-gateway-image-'));
    stages = replayDockerfile(DOCKERFILE, {
      context: REPO,
      into: join(work, 'stages'),
      // The local npm cache first: the test must not depend on the registry being fast.
      npmEnv: { npm_config_prefer_offline: 'true', npm_config_update_notifier: 'false', npm_config_loglevel: 'error' },
      timeoutMs: 240_000,
    });
    runtime = stages.at(-1)!;

    const tmp = join(work, 'tmp');
    config = join(work, 'config');
    auditFile = join(tmp, 'audit.log');
    mkdirSync(tmp);
    mkdirSync(config);
    const { publicKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(config, 'idp.pem'), publicKey.export({ type: 'spki', format: 'pem' }));
    writeFileSync(join(config, 'policy.yaml'), 'rules:\n  - groups: [sre]\n    instances: ["*"]\n    role: operator\n');
    port = await freePort();
    base = `http://127.0.0.1:${port}`;
    before = snapshot(runtime.root);

    const [command, ...args] = runtime.cmd!;
    child = spawn(command === 'node' ? process.execPath : command!, args, {
      cwd: runtime.workdir,
      // Only the image's ENV and the operator's configuration: nothing from the test's environment.
      env: {
        PATH: process.env.PATH ?? '',
        ...runtime.env,
        TMPDIR: tmp,
        HOME: tmp,
        PORT: String(port),
        HOST: '127.0.0.1',
        TENCENTCLOUD_SECRET_ID: 'AKIDexample0000000000000000000000000',
        TENCENTCLOUD_SECRET_KEY: 'exampleSecretKey0000000000000000',
        AUTH_PUBLIC_KEY_FILE: join(config, 'idp.pem'),
        AUTH_ISSUER: 'https://idp.example.com/',
        AUTH_AUDIENCE: 'vnc-gateway',
        POLICY_FILE: join(config, 'policy.yaml'),
        AUDIT_FILE: auditFile,
        SHUTDOWN_GRACE_S: '1',
        LOG_LEVEL: 'info',
      },
      stdio: ['ignore', 'ignore', 'pipe'],
      detached: true,
    });
    child.stderr?.on('data', (chunk: Buffer) => stderr.push(chunk.toString()));
    exited = new Promise((resolve) => child!.once('exit', (code) => resolve(code)));
    const deadline = Date.now() + 20_000;
    for (;;) {
      const ok = await fetch(`${base}/healthz`).then((r) => r.ok, () => false);
      if (ok) break;
      if (child.exitCode !== null || Date.now() > deadline) throw new Error(`the gateway did not come up:\n${stderr.join('')}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
  }, 420_000);

  afterAll(() => {
    if (child?.pid !== undefined && child.exitCode === null) {
      try {
        process.kill(-child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    if (work) rmSync(work, { recursive: true, force: true });
  });

  it('ran the build and the production install, and skipped only OS package steps', () => {
    const ran = stages.flatMap((s) => s.ran);
    expect(ran.some((r) => /^npm ci\b/.test(r) && !r.includes('--omit=dev'))).toBe(true);
    expect(ran).toContain('npm run build');
    expect(runtime.ran.some((r) => /^npm ci\b.*--omit=dev/.test(r))).toBe(true);
    for (const skipped of stages.flatMap((s) => s.skipped)) expect(skipped).toMatch(/^apt-get /);
  });

  it('holds production dependencies and compiled code only', () => {
    const app = runtime.workdir;
    for (const dev of ['typescript', 'vitest', 'tsx', 'playwright-core', '@types/node']) {
      expect(existsSync(join(app, 'node_modules', dev)), `${dev} is a dev dependency`).toBe(false);
    }
    for (const prod of ['hono', 'ws', 'jose', 'ioredis', 'pino', 'prom-client', '@novnc/novnc']) {
      expect(existsSync(join(app, 'node_modules', prod)), `${prod} is needed at run time`).toBe(true);
    }
    expect(existsSync(join(app, 'dist/gateway/main.js'))).toBe(true);
    expect(existsSync(join(app, 'dist/simulator/main.js'))).toBe(true);
    // No TypeScript sources, tests or the demo sign-in in the image.
    expect(runtime.copiedFromContext.filter((src) => !['package.json', 'package-lock.json', 'gateway/console/public'].includes(src))).toEqual([]);
    // Of the scripts, only the operator's commands (audit verify, policy check/explain): no demo sign-in.
    expect(readdirSync(join(app, 'dist/scripts')).filter((f) => f.endsWith('.js')).sort()).toEqual(['audit.js', 'policy.js']);
    expect(existsSync(join(app, 'test'))).toBe(false);
  });

  it('answers /healthz and /readyz, and serves the console with its browser files', async () => {
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    expect((await fetch(`${base}/readyz`)).status).toBe(200);
    const page = await fetch(`${base}/console/lhins-abcd1234`);
    expect(page.headers.get('content-type')).toMatch(/^text\/html/);
    for (const asset of ['/assets/console.js', '/assets/console.css']) {
      const res = await fetch(`${base}${asset}`);
      expect(res.status, asset).toBe(200);
    }
    const metrics = await fetch(`${base}/metrics`);
    expect(await metrics.text()).toContain('vnc_gateway_build_info{version="0.1.0"');
  });

  it("passes the image's HEALTHCHECK command", async () => {
    const [command, ...args] = runtime.healthcheck!;
    const code = await new Promise<number | null>((resolve) => {
      const check = execFile(command === 'node' ? process.execPath : command!, args, { env: { ...runtime.env, PORT: String(port) }, timeout: 10_000 });
      check.once('exit', (exitCode) => resolve(exitCode));
    });
    expect(code).toBe(0);
  });

  it('also runs the compose trial\'s simulator and trial sign-in from the image\'s files', async () => {
    const certs = join(work, 'certs');
    mkdirSync(certs, { recursive: true });
    const tls = await createSelfSignedCertificate(certs);
    const simulator = spawn(process.execPath, ['dist/simulator/main.js'], {
      cwd: runtime.workdir,
      env: { PATH: process.env.PATH ?? '', ...runtime.env, SIM_TLS_CERT: tls.certPath, SIM_TLS_KEY: tls.keyPath, SIM_PORT: '0', SIM_VNC_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      const output: string[] = [];
      const started = new Promise<void>((resolve, reject) => {
        simulator.stdout.on('data', (chunk: Buffer) => {
          output.push(chunk.toString());
          if (output.join('').includes('simulator running')) resolve();
        });
        simulator.once('exit', (code) => reject(new Error(`simulator exited with ${code}`)));
      });
      await Promise.race([started, new Promise((_, reject) => setTimeout(() => reject(new Error('simulator did not start in 15 s')), 15_000))]);
    } finally {
      simulator.kill('SIGTERM');
    }
    // compose mounts the sign-in next to the image's node_modules (/app/trial/); `jose` must resolve there.
    const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
    writeFileSync(join(certs, 'idp-private.pem'), privateKey.export({ type: 'pkcs8', format: 'pem' }));
    mkdirSync(join(runtime.workdir, 'trial'));
    cpSync(join(REPO, 'deploy/trial/trial-sign-in.mjs'), join(runtime.workdir, 'trial/trial-sign-in.mjs'));
    try {
      const token = execFileSync(process.execPath, ['trial/trial-sign-in.mjs', '--print-token'], {
        cwd: runtime.workdir,
        env: { PATH: process.env.PATH ?? '', TRIAL_PRIVATE_KEY_FILE: join(certs, 'idp-private.pem') },
        encoding: 'utf8',
        timeout: 15_000,
      });
      expect(token.trim().split('.')).toHaveLength(3);
    } finally {
      rmSync(join(runtime.workdir, 'trial'), { recursive: true, force: true });
    }
  });

  it('verifies the audit trail the gateway wrote, and checks a policy, with its own commands and production dependencies only', async () => {
    // Two refusals the trail records: no credential, and a forged one (added to whatever the
    // earlier cases made the gateway record).
    const records = (): number => (existsSync(auditFile) ? readFileSync(auditFile, 'utf8').split('\n').filter(Boolean).length : 0);
    const before = records();
    expect((await fetch(`${base}/api/v1/instances/lhins-abcd1234/tickets`, { method: 'POST' })).status).toBe(401);
    expect((await fetch(`${base}/api/v1/instances/lhins-abcd1234/tickets`, { method: 'POST', headers: { Authorization: 'Bearer not.a.jwt' } })).status).toBe(401);
    const deadline = Date.now() + 5000;
    while (records() < before + 2) {
      if (Date.now() > deadline) throw new Error('the audit file did not get two more records within 5 s');
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    const intact = await runInImage(['dist/scripts/audit.js', 'verify', auditFile]);
    expect(intact, intact.stderr).toMatchObject({ code: 0, stdout: expect.stringMatching(new RegExp(`^intact: ${records()} records`)) });

    const edited = join(work, 'edited-audit.log');
    writeFileSync(edited, readFileSync(auditFile, 'utf8').replace('"auth_required"', '"auth_invalid"'));
    const broken = await runInImage(['dist/scripts/audit.js', 'verify', edited]);
    expect(broken.code).toBe(1);
    expect(broken.stderr).toMatch(/BROKEN at record 1 .*edited/);

    expect(await runInImage(['dist/scripts/policy.js', 'check', join(config, 'policy.yaml')])).toMatchObject({ code: 0 });
    expect(await runInImage(['dist/scripts/policy.js', 'explain', '--sub', 'sam', '--groups', 'sre', '--instance', 'lhins-abcd1234', '--file', join(config, 'policy.yaml')])).toMatchObject({ code: 0 });

    // The package's bin entries point at these files, runnable by plain node (a shebang, no tsx).
    const { bin } = JSON.parse(readFileSync(join(runtime.workdir, 'package.json'), 'utf8')) as { bin: Record<string, string> };
    expect(Object.keys(bin).sort()).toEqual(['vnc-gateway-audit', 'vnc-gateway-policy']);
    for (const path of Object.values(bin)) {
      expect(readFileSync(join(runtime.workdir, path), 'utf8').startsWith('#!/usr/bin/env node\n'), path).toBe(true);
    }
    expect(bin['vnc-gateway-audit']).toBe('dist/scripts/audit.js');
  });

  it('drains and exits 0 on SIGTERM, having written nothing outside TMPDIR', async () => {
    child!.kill('SIGTERM');
    const code = await Promise.race([exited, new Promise<'timeout'>((resolve) => setTimeout(() => resolve('timeout'), 15_000))]);
    expect(code, stderr.join('')).toBe(0);
    expect(snapshot(runtime.root)).toEqual(before);
  });
});
