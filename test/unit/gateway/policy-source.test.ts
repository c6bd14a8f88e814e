import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { PolicyError } from '../../../auth/policy.js';
import { createLogger } from '../../../gateway/logger.js';
import { createPolicySource } from '../../../gateway/policy-source.js';

const GOOD = 'rules:\n  - groups: [sre]\n    instances: ["*"]\n    role: operator\n';
const OTHER = 'rules:\n  - users: [bob]\n    instances: ["*"]\n    role: operator\n  - users: [carol]\n    instances: ["*"]\n    role: operator\n';

function setup(text: string) {
  const file = join(mkdtempSync(join(tmpdir(), 'policy-source-')), 'policy.yaml');
  writeFileSync(file, text);
  const lines: string[] = [];
  const logger = createLogger({ level: 'debug', destination: { write: (line: string) => void lines.push(line) } });
  return { file, lines, logger };
}

describe('createPolicySource', () => {
  it('refuses to start from a broken file, listing every problem', async () => {
    const { file, logger } = setup('rules:\n  - role: boss\n');
    const error = await createPolicySource({ file, logger, watch: false }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(PolicyError);
    expect((error as PolicyError).problems.length).toBeGreaterThanOrEqual(3);
  });

  it('reloads a changed file, and reports an unchanged one as such', async () => {
    const { file, logger } = setup(GOOD);
    const source = await createPolicySource({ file, logger, watch: false });
    expect(source.current().rules).toHaveLength(1);
    expect(await source.reload()).toEqual({ status: 'unchanged' });
    writeFileSync(file, OTHER);
    expect(await source.reload()).toEqual({ status: 'reloaded', rules: 2 });
    expect(source.current().rules).toHaveLength(2);
  });

  it('keeps the last good policy when the file breaks or vanishes, logging why', async () => {
    const { file, lines, logger } = setup(GOOD);
    const source = await createPolicySource({ file, logger, watch: false });
    const good = source.current();
    writeFileSync(file, 'rules:\n  - groups: []\n    instances: ["*"]\n    role: operator\n    extra: 1\n');
    const result = await source.reload('SIGHUP');
    expect(result.status).toBe('rejected');
    if (result.status === 'rejected') expect(result.problems).toHaveLength(2);
    expect(source.current()).toBe(good);
    writeFileSync(file, '');
    await source.reload();
    expect(source.current()).toBe(good);
    logger.flush();
    const rejected = lines.filter((line) => line.includes('policy reload rejected'));
    expect(rejected.length).toBe(2);
    expect(rejected[0]).toContain('"trigger":"SIGHUP"');
  });

  it('keeps answering SIGHUP with the rejection, and why, while the broken file stays unchanged', async () => {
    const { file, lines, logger } = setup(GOOD);
    const source = await createPolicySource({ file, logger, watch: false });
    writeFileSync(file, 'rules:\n  - groups: []\n    instances: ["*"]\n    role: boss\n');
    // The watcher gets there first...
    const first = await source.reload('file change');
    expect(first.status).toBe('rejected');
    const problems = first.status === 'rejected' ? first.problems : [];
    expect(problems.length).toBeGreaterThan(0);
    // ...and the operator's SIGHUP afterwards still hears why, at error level.
    expect(await source.reload('SIGHUP')).toEqual({ status: 'rejected', problems });
    // The poll keeps the answer but does not repeat the log line every few seconds.
    expect(await source.reload('poll')).toEqual({ status: 'rejected', problems });
    logger.flush();
    const rejected = lines.filter((line) => line.includes('policy reload rejected')).map((line) => JSON.parse(line) as { trigger: string; problems: string[]; level: number });
    expect(rejected.map((line) => line.trigger)).toEqual(['file change', 'SIGHUP']);
    expect(rejected[1]).toMatchObject({ problems, level: 50 });
    expect(lines.some((line) => line.includes('policy unchanged'))).toBe(false);
    // Fixed: reloaded, and then unchanged again.
    writeFileSync(file, OTHER);
    expect(await source.reload('SIGHUP')).toEqual({ status: 'reloaded', rules: 2 });
    expect(await source.reload('SIGHUP')).toEqual({ status: 'unchanged' });
  });

  it('picks up a change by itself when watching', async () => {
    const { file, logger } = setup(GOOD);
    const source = await createPolicySource({ file, logger, debounceMs: 20, pollMs: 100 });
    try {
      writeFileSync(file, OTHER);
      const deadline = Date.now() + 5000;
      while (source.current().rules.length !== 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
      expect(source.current().rules).toHaveLength(2);
    } finally {
      source.close();
    }
  });
});
