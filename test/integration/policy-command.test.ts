// `npm run policy -- explain` and `check`: which rule decides and why, a denial spelled out,
// every problem of a broken file; in-process, plus one run through npm as an operator would.

import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { runPolicyCommand } from '../../scripts/policy.js';

const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-policy-cmd-'));
const file = join(dir, 'policy.yaml');
writeFileSync(
  file,
  `rules:
  - groups: [sre]
    instances: ["lhins-prod*"]
    role: operator
  - users: [alice@example.com]
    instances: ["lhins-web*"]
    role: operator
    maxSessionSeconds: 3600
  - groups: [dev]
    instances: ["*"]
    role: viewer
  - groups: [secops]
    instances: ["*"]
    role: admin
`,
);
const broken = join(dir, 'broken.yaml');
writeFileSync(broken, 'rules:\n  - groups: sre\n    role: boss\n  - users: [x]\n    instances: ["*"]\n    role: operator\n    colour: blue\n');

async function run(...argv: string[]): Promise<{ status: number; out: string; err: string }> {
  const out: string[] = [];
  const err: string[] = [];
  const status = await runPolicyCommand(argv, { out: (l) => out.push(l), err: (l) => err.push(l) });
  return { status, out: out.join('\n'), err: err.join('\n') };
}

describe('explain', () => {
  it('names the deciding rule and why, and says when several match', async () => {
    const r = await run('explain', '--sub', 'alice', '--email', 'alice@example.com', '--groups', 'sre,dev', '--instance', 'lhins-web1', '--file', file);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/rule 1: users alice@example\.com -> instances lhins-web\* as operator, max 3600 s\n\s+MATCHES: user \(email\), instance pattern "lhins-web\*"/);
    expect(r.out).toMatch(/rule 0: .*\n\s+matches the user \(group sre\) but none of its instances matches lhins-web1/);
    expect(r.out).toMatch(/rule 3: .*\n\s+does not match the user/);
    expect(r.out).toMatch(/Decision: ALLOWED: rule 1 grants operator \(user \(email\)\)/);
    expect(r.out).toMatch(/2 rules match; the most privileged role wins/);
    expect(r.out).toMatch(/Sessions end after 3600 s/);
  });

  it('spells out a denial (exit 1) when no rule admits the user', async () => {
    const r = await run('explain', '--sub', 'mallory', '--groups', 'sre', '--instance', 'lhins-web1', '--file', file);
    expect(r.status).toBe(1);
    expect(r.out).toMatch(/Decision: DENIED: rules 0 match the user but not instance lhins-web1/);
  });

  it('notes that viewer access is refused by the gateway for now', async () => {
    const r = await run('explain', '--sub', 'dana', '--groups', 'dev', '--instance', 'lhins-x1', '--file', file);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/grants viewer[\s\S]*refuses viewer access for now/);
  });

  it('refuses to guess without --sub or --instance (exit 2)', async () => {
    const r = await run('explain', '--sub', 'alice', '--file', file);
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/needs --sub and --instance/);
  });
});

describe('check', () => {
  it('accepts a valid file', async () => {
    const r = await run('check', file);
    expect(r.status).toBe(0);
    expect(r.out).toMatch(/valid, 4 rules/);
  });

  it('lists every problem of a broken file (exit 1)', async () => {
    const r = await run('check', broken);
    expect(r.status).toBe(1);
    expect(r.err).toMatch(/rules\[0\]\.groups[\s\S]*rules\[0\]\.instances: is required[\s\S]*rules\[0\]\.role[\s\S]*rules\[1\]: unknown key "colour"/);
  });

  it('says when the file cannot be read (exit 2)', async () => {
    const r = await run('check', join(dir, 'missing.yaml'));
    expect(r.status).toBe(2);
    expect(r.err).toMatch(/Cannot read/);
  });
});

it('runs as `npm run policy -- explain …`', async () => {
  const root = fileURLToPath(new URL('../../', import.meta.url));
  const { stdout } = await promisify(execFile)('npm', ['run', '-s', 'policy', '--', 'explain', '--sub', 'sam', '--groups', 'secops', '--instance', 'ins-abc123', '--file', file], {
    cwd: root,
    timeout: 30_000,
  });
  expect(stdout).toMatch(/Decision: ALLOWED: rule 3 grants admin \(group secops\)/);
});
