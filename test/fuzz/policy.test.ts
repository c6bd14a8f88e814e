// Property tests of the policy parser: any text, YAML-shaped or not, yields a frozen Policy of
// well-formed rules or one PolicyError listing problems; decisions on a parsed policy never throw.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { decide, parsePolicy, PolicyError, ROLES, type Policy } from '../../auth/policy.js';
import { fuzz } from './fuzz-settings.js';

const KEYS = ['groups', 'users', 'emailDomains', 'instances', 'role', 'maxSessionSeconds', 'maxConcurrentSessions', 'description', '__proto__', 'constructor', 'rules', 'unknown'];
const SCALARS = [
  'sre', '"*"', "'lhins-web*'", 'operator', 'viewer', 'admin', 'root', '3600', '-1', '0x10', '1e3', '.nan', '.inf', 'null', '~', 'true', 'yes',
  '[sre, ops]', '[]', '{}', '{a: 1}', '[[sre]]', '!!binary aGVsbG8=', '!!timestamp 2001-12-14', '!!set {a, b}', '!!omap [a: 1]', '!foo bar', '!!str 1',
  '&a [sre]', '*a', '*missing', '@example.com', 'corp.example', '*.corp.example', '"\\u0000"', '|\n  text', '>-\n  folded', "'", '"', '- x',
];
// Lines assembled from policy vocabulary at random indents: mostly parsable YAML, often wrong.
const line = fc
  .tuple(fc.constantFrom('', '  ', '    ', '      ', '\t', '  - ', '    - ', '- '), fc.constantFrom(...KEYS, '<<', '? [a, b]', '"quoted key"'), fc.constantFrom(': ', ':', ': ', ' : '), fc.constantFrom(...SCALARS, ''))
  .map(([indent, key, colon, value]) => `${indent}${key}${colon}${value}`);
const yamlish = fc.array(line, { maxLength: 12 }).map((lines) => `rules:\n${lines.join('\n')}\n`);

// Structures that are nearly policies, serialised by a real YAML emitter.
const edgy = <T,>(valid: fc.Arbitrary<T>, values: readonly unknown[]): fc.Arbitrary<unknown> =>
  fc.oneof({ weight: 4, arbitrary: valid }, { weight: 1, arbitrary: fc.constantFrom(...values) }, { weight: 1, arbitrary: fc.jsonValue({ maxDepth: 1 }) });
const rule = fc.record(
  {
    groups: edgy(fc.array(fc.constantFrom('sre', 'ops', ' '), { minLength: 1, maxLength: 2 }), [[], [''], 'sre', [1]]),
    users: edgy(fc.array(fc.constantFrom('alice@example.com', 'sub-1'), { minLength: 1, maxLength: 2 }), [[], [null]]),
    emailDomains: edgy(fc.array(fc.constantFrom('example.com', 'corp.example'), { minLength: 1, maxLength: 2 }), [['@example.com'], ['*.example.com'], ['-a.com']]),
    instances: edgy(fc.array(fc.constantFrom('*', 'lhins-web*', 'ins-abc123', '?'), { minLength: 1, maxLength: 2 }), [[], ['']]),
    role: edgy(fc.constantFrom(...ROLES), ['root', 'Operator', null, 3]),
    maxSessionSeconds: edgy(fc.integer({ min: 1, max: 86_400 }), [0, -5, 1.5, '60']),
    description: edgy(fc.string({ maxLength: 20 }), [42, ['x']]),
  },
  { requiredKeys: [] },
);
const document = fc.oneof(
  { weight: 4, arbitrary: fc.record({ rules: fc.array(rule, { maxLength: 4 }) }) },
  fc.record({ rules: fc.jsonValue({ maxDepth: 2 }), extra: fc.jsonValue({ maxDepth: 1 }) }, { requiredKeys: ['rules'] }),
  fc.jsonValue({ maxDepth: 3 }),
);
const text = fc.oneof(
  { weight: 3, arbitrary: document.map((doc) => stringify(doc)) },
  { weight: 3, arbitrary: yamlish },
  fc.string({ unit: 'binary', maxLength: 200 }),
  document.map((doc) => `${stringify(doc)}\n${stringify(doc)}`),
);

function expectWellFormed(policy: Policy): void {
  expect(Object.isFrozen(policy)).toBe(true);
  expect(Object.isFrozen(policy.rules)).toBe(true);
  for (const r of policy.rules) {
    expect(Object.isFrozen(r)).toBe(true);
    expect(ROLES).toContain(r.role);
    expect(r.instances.length).toBeGreaterThan(0);
    for (const list of [r.instances, r.groups, r.users, r.emailDomains]) {
      for (const item of list ?? []) expect(typeof item === 'string' && item.trim() !== '').toBe(true);
    }
    expect(r.groups !== undefined || r.users !== undefined || r.emailDomains !== undefined).toBe(true);
    if (r.maxSessionSeconds !== undefined) expect(Number.isInteger(r.maxSessionSeconds) && r.maxSessionSeconds > 0).toBe(true);
  }
}

describe('parsing arbitrary policy text', () => {
  it('yields a well-formed frozen Policy or a PolicyError listing problems, and decisions never throw', () => {
    let parsed = 0;
    fc.assert(
      fc.property(text, fc.constantFrom('lhins-web01', 'ins-abc123', 'lhins-x'), fc.constantFrom('alice@example.com', 'ALICE@EXAMPLE.COM', undefined), (source, instanceId, email) => {
        let policy: Policy;
        try {
          policy = parsePolicy(source);
        } catch (error) {
          expect(error, String(error)).toBeInstanceOf(PolicyError);
          expect((error as PolicyError).problems.length).toBeGreaterThan(0);
          return;
        }
        parsed++;
        expectWellFormed(policy);
        const decision = decide(policy, { sub: 'sub-1', groups: ['sre'], expiresAt: 0, ...(email ? { email } : {}) }, instanceId);
        expect(typeof decision.allowed).toBe('boolean');
      }),
      fuzz(200),
    );
    expect(parsed).toBeGreaterThan(0);
  });

  it('refuses alias bombs instead of expanding them', () => {
    const levels = ['a: &a ["x","x","x","x","x","x","x","x","x","x"]'];
    for (let i = 1; i < 9; i++) levels.push(`${String.fromCharCode(97 + i)}: &${String.fromCharCode(97 + i)} [${Array(10).fill(`*${String.fromCharCode(96 + i)}`).join(',')}]`);
    const bomb = `${levels.join('\n')}\nrules: *i\n`;
    expect(() => parsePolicy(bomb)).toThrow(PolicyError);
  });
});
