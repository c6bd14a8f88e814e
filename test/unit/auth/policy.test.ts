import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { Identity } from '../../../auth/identity.js';
import { decide, isAdmin, loadPolicyFile, parsePolicy, PolicyError, type Policy } from '../../../auth/policy.js';

function who(overrides: Partial<Identity> = {}): Identity {
  return { sub: 'user-1', groups: [], expiresAt: 2_000_000_000, ...overrides };
}

const designExample = `
rules:
  - groups: [sre]                  # any of the user's groups
    instances: ["*"]               # ids or globs
    role: operator                 # operator (full control) | viewer | admin
  - users: [alice@example.com]     # matches sub or email
    instances: ["lhins-web*"]
    role: operator
`;

describe('parsePolicy', () => {
  it("accepts DESIGN.md's example", () => {
    const policy = parsePolicy(designExample);
    expect(policy.rules).toEqual([
      { groups: ['sre'], instances: ['*'], role: 'operator' },
      { users: ['alice@example.com'], instances: ['lhins-web*'], role: 'operator' },
    ]);
    expect(Object.isFrozen(policy.rules)).toBe(true);
  });

  it('accepts every optional field', () => {
    const policy = parsePolicy(`
rules:
  - emailDomains: [example.com]
    instances: [ins-1]
    role: viewer
    maxSessionSeconds: 3600
    description: contractors watch only
`);
    expect(policy.rules[0]).toEqual({
      emailDomains: ['example.com'],
      instances: ['ins-1'],
      role: 'viewer',
      maxSessionSeconds: 3600,
      description: 'contractors watch only',
    });
  });

  it('hands the winning rule’s maxConcurrentSessions to the decision', () => {
    const policy = parsePolicy('rules:\n  - groups: [support]\n    instances: ["lhins-*"]\n    role: operator\n    maxConcurrentSessions: 1\n  - groups: [sre]\n    instances: ["*"]\n    role: operator\n');
    const support = decide(policy, { sub: 's', groups: ['support'], expiresAt: 0 }, 'lhins-a');
    expect(support).toMatchObject({ allowed: true, maxConcurrentSessions: 1 });
    const sre = decide(policy, { sub: 'r', groups: ['sre'], expiresAt: 0 }, 'lhins-a');
    expect(sre.allowed && 'maxConcurrentSessions' in sre).toBe(false);
  });

  it('accepts an empty rule list, which denies everyone', () => {
    const policy = parsePolicy('rules: []');
    expect(decide(policy, who({ groups: ['sre'] }), 'ins-1')).toEqual({ allowed: false, reason: 'no rule matches the user' });
  });

  it.each<[string, string, RegExp]>([
    ['an empty file', '', /mapping with a "rules" list/],
    ['a list at the top', '- a', /mapping with a "rules" list/],
    ['rules that are not a list', 'rules: {}', /"rules" must be a list/],
    ['a YAML syntax error', 'rules: [', /YAML:/],
    ['a duplicated key', 'rules:\n  - users: [a]\n    role: viewer\n    role: admin\n    instances: ["*"]', /YAML:.*[Uu]nique/],
    ['two YAML documents', 'rules: []\n---\nrules: []', /YAML:/],
    ['an unknown top-level key', 'rules: []\nversion: 2', /unknown top-level key "version"/],
    ['a rule that is not a mapping', 'rules: [operator]', /rules\[0\]: must be a mapping/],
    ['a rule without subjects', 'rules:\n  - instances: ["*"]\n    role: viewer', /rules\[0\]: needs at least one of groups, users, emailDomains/],
    ['a rule without instances', 'rules:\n  - groups: [sre]\n    role: viewer', /rules\[0\]\.instances: is required/],
    ['a rule without a role', 'rules:\n  - groups: [sre]\n    instances: ["*"]', /rules\[0\]\.role: is required/],
    ['an unknown role', 'rules:\n  - groups: [sre]\n    instances: ["*"]\n    role: owner', /rules\[0\]\.role: must be one of operator, viewer, admin, not "owner"/],
    ['a misspelt key', 'rules:\n  - group: [sre]\n    instances: ["*"]\n    role: viewer', /rules\[0\]: unknown key "group"/],
    ['groups given as a string', 'rules:\n  - groups: sre\n    instances: ["*"]\n    role: viewer', /rules\[0\]\.groups: must be a non-empty list of strings/],
    ['an empty users list', 'rules:\n  - users: []\n    instances: ["*"]\n    role: viewer', /rules\[0\]\.users: must be a non-empty list/],
    ['a non-string instance', 'rules:\n  - users: [a]\n    instances: ["ins-1", 7]\n    role: viewer', /rules\[0\]\.instances\[1\]: must be a non-empty string/],
    ['an empty instance', 'rules:\n  - users: [a]\n    instances: [""]\n    role: viewer', /rules\[0\]\.instances\[0\]: must be a non-empty string/],
    ['an @-prefixed domain', 'rules:\n  - emailDomains: ["@example.com"]\n    instances: ["*"]\n    role: viewer', /rules\[0\]\.emailDomains: "@example.com" is not a domain/],
    ['a wildcard domain', 'rules:\n  - emailDomains: ["*.example.com"]\n    instances: ["*"]\n    role: viewer', /is not a domain/],
    ['a fractional maxSessionSeconds', 'rules:\n  - users: [a]\n    instances: ["*"]\n    role: viewer\n    maxSessionSeconds: 1.5', /maxSessionSeconds: must be a positive whole number/],
    ['a zero maxSessionSeconds', 'rules:\n  - users: [a]\n    instances: ["*"]\n    role: viewer\n    maxSessionSeconds: 0', /maxSessionSeconds/],
    ['a zero maxConcurrentSessions', 'rules:\n  - users: [a]\n    instances: ["*"]\n    role: viewer\n    maxConcurrentSessions: 0', /maxConcurrentSessions: must be a positive whole number/],
    ['a string maxSessionSeconds', 'rules:\n  - users: [a]\n    instances: ["*"]\n    role: viewer\n    maxSessionSeconds: "3600"', /maxSessionSeconds/],
  ])('refuses %s', (_name, yaml, message) => {
    expect(() => parsePolicy(yaml)).toThrow(PolicyError);
    expect(() => parsePolicy(yaml)).toThrow(message);
  });

  it('lists every problem of every rule in one error', () => {
    const yaml = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - instances: ["*"]
    role: boss
  - users: alice
    instance: [ins-1]
    role: viewer
`;
    let error: PolicyError | undefined;
    try {
      parsePolicy(yaml);
    } catch (err) {
      error = err as PolicyError;
    }
    expect(error).toBeInstanceOf(PolicyError);
    expect(error!.problems).toEqual([
      'rules[1]: needs at least one of groups, users, emailDomains',
      'rules[1].role: must be one of operator, viewer, admin, not "boss"',
      'rules[2]: unknown key "instance"',
      'rules[2].users: must be a non-empty list of strings',
      'rules[2].instances: is required',
    ]);
    for (const problem of error!.problems) expect(error!.message).toContain(problem);
  });

  it('refuses alias bombs instead of expanding them', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 10; i++) bomb.push(`${'a'.repeat(i + 1)}: &${'a'.repeat(i + 1)} [${Array(10).fill(`*${'a'.repeat(i)}`).join(',')}]`);
    bomb.push('rules: []');
    expect(() => parsePolicy(bomb.join('\n'))).toThrow(PolicyError);
  });
});

describe('loadPolicyFile', () => {
  it('reads a policy from disk and names the file when it is invalid', async () => {
    const dir = await mkdtemp(join(tmpdir(), 'policy-'));
    try {
      const good = join(dir, 'good.yaml');
      const bad = join(dir, 'bad.yaml');
      await writeFile(good, designExample);
      await writeFile(bad, 'rules:\n  - role: viewer\n');
      expect((await loadPolicyFile(good)).rules).toHaveLength(2);
      await expect(loadPolicyFile(bad)).rejects.toThrow(`Invalid policy file ${bad}`);
      await expect(loadPolicyFile(join(dir, 'missing.yaml'))).rejects.toThrow(/ENOENT/);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});

describe('decide', () => {
  const policy = parsePolicy(designExample);

  it.each<[string, Identity, string, boolean]>([
    ['a group member on any instance', who({ groups: ['dev', 'sre'] }), 'ins-anything', true],
    ['a listed user by email', who({ email: 'alice@example.com' }), 'lhins-web-01', true],
    ['a listed user by email in another case', who({ email: 'Alice@Example.COM' }), 'lhins-web-01', true],
    ['a listed user by sub', who({ sub: 'alice@example.com' }), 'lhins-web-01', true],
    ['a listed user on an instance outside the glob', who({ email: 'alice@example.com' }), 'lhins-db-01', false],
    ['a listed user on an instance that only contains the glob', who({ email: 'alice@example.com' }), 'x-lhins-web-01', false],
    ['someone in no listed group', who({ groups: ['SRE', 'sre-team'] }), 'ins-1', false],
    ['a user whose sub differs only in case', who({ sub: 'ALICE@example.com' }), 'lhins-web-01', false],
    ['an email that merely contains the listed one', who({ email: 'malice@example.com' }), 'lhins-web-01', false],
    ['nobody in particular', who(), 'ins-1', false],
  ])('decides for %s', (_name, identity, instanceId, allowed) => {
    expect(decide(policy, identity, instanceId).allowed).toBe(allowed);
  });

  it('explains a denial where the user matches but the instance does not', () => {
    expect(decide(policy, who({ email: 'alice@example.com' }), 'lhins-db-01')).toEqual({
      allowed: false,
      reason: 'rules 1 match the user but not instance lhins-db-01',
    });
  });

  it('returns the rule, role and reason of an allowed decision', () => {
    expect(decide(policy, who({ groups: ['sre'] }), 'ins-1')).toEqual({ allowed: true, role: 'operator', ruleIndex: 0, reason: 'rule 0 grants operator (group sre)' });
  });

  describe('email domains', () => {
    const domains = parsePolicy('rules:\n  - emailDomains: [Example.com]\n    instances: ["*"]\n    role: viewer');
    it.each<[string | undefined, boolean]>([
      ['bob@example.com', true],
      ['bob@EXAMPLE.COM', true],
      ['bob@sub.example.com', false],
      ['bob@evilexample.com', false],
      ['bob@example.com.evil.net', false],
      ['example.com', false],
      ['@example.com', false],
      [undefined, false],
    ])('treats %j as in the domain: %s', (email, allowed) => {
      expect(decide(domains, who(email === undefined ? {} : { email }), 'ins-1').allowed).toBe(allowed);
    });
  });

  describe('when several rules match', () => {
    const layered = parsePolicy(`
rules:
  - groups: [everyone]
    instances: ["*"]
    role: viewer
    maxSessionSeconds: 600
  - groups: [sre]
    instances: ["ins-*"]
    role: operator
    maxSessionSeconds: 3600
  - groups: [oncall]
    instances: ["ins-*"]
    role: operator
  - groups: [admins]
    instances: ["ins-prod-*"]
    role: admin
`);

    it.each<[string, string[], string, string, number]>([
      ['a viewer rule listed first does not demote an operator', ['everyone', 'sre'], 'ins-1', 'operator', 1],
      ['admin outranks operator', ['everyone', 'sre', 'admins'], 'ins-prod-1', 'admin', 3],
      ['equal roles go to the earlier rule', ['oncall', 'sre'], 'ins-1', 'operator', 1],
      ['only the rules matching the instance count', ['everyone', 'sre', 'admins'], 'lhins-1', 'viewer', 0],
    ])('%s', (_name, groups, instanceId, role, ruleIndex) => {
      expect(decide(layered, who({ groups }), instanceId)).toMatchObject({ allowed: true, role, ruleIndex });
    });

    it("takes maxSessionSeconds from the winning rule, and none when it has none", () => {
      expect(decide(layered, who({ groups: ['everyone', 'sre'] }), 'ins-1')).toMatchObject({ maxSessionSeconds: 3600 });
      expect(decide(layered, who({ groups: ['everyone'] }), 'ins-1')).toMatchObject({ maxSessionSeconds: 600 });
      expect(decide(layered, who({ groups: ['oncall'] }), 'ins-1')).not.toHaveProperty('maxSessionSeconds');
    });
  });

  it('works on a policy built by hand', () => {
    const handMade: Policy = { rules: [{ users: ['u'], instances: ['ins-?'], role: 'viewer' }] };
    expect(decide(handMade, who({ sub: 'u' }), 'ins-1')).toMatchObject({ allowed: true, role: 'viewer' });
    expect(decide(handMade, who({ sub: 'u' }), 'ins-12').allowed).toBe(false);
  });
});

describe('isAdmin', () => {
  const policy = parsePolicy(`
rules:
  - groups: [platform]
    instances: ["ins-none-match"]
    role: admin
  - groups: [sre]
    instances: ["*"]
    role: operator
`);

  it.each<[string, string[], boolean]>([
    ['a member of an admin rule, whatever its instances', ['platform'], true],
    ['an operator everywhere', ['sre'], false],
    ['nobody', [], false],
  ])('answers for %s', (_name, groups, expected) => {
    expect(isAdmin(policy, who({ groups }))).toBe(expected);
  });
});
