// The access policy: which users, groups or email domains may open which instances, in
// which role. Parsed and fully validated from YAML once; decisions are pure functions.

import { readFile } from 'node:fs/promises';
import { parseDocument } from 'yaml';
import { compileGlob } from './glob.js';
import type { Identity, Role } from './identity.js';

/** One rule of the policy file. A rule applies when any of its subjects matches. */
export interface PolicyRule {
  /** Matches when the user is in any of these groups (exact, case-sensitive). */
  readonly groups?: readonly string[];
  /** Matches the token's `sub` exactly, or its `email` ignoring case. */
  readonly users?: readonly string[];
  /** Matches an email whose domain is exactly one of these (ignoring case; no subdomains). */
  readonly emailDomains?: readonly string[];
  /** Instance ids or globs (`*`, `?`), e.g. `lhins-web*`. */
  readonly instances: readonly string[];
  readonly role: Role;
  /** Sessions opened through this rule end after this many seconds. */
  readonly maxSessionSeconds?: number;
  /** At most this many sessions on the instance while one opened through this rule runs (1 = exclusive). */
  readonly maxConcurrentSessions?: number;
  /** Free text for people reading the file and the audit trail. */
  readonly description?: string;
}

/** A validated, frozen policy. */
export interface Policy {
  readonly rules: readonly PolicyRule[];
}

/** The outcome of `decide`; `reason` is for logs and audit records, not for the client. */
export type PolicyDecision =
  | { allowed: true; role: Role; ruleIndex: number; maxSessionSeconds?: number; maxConcurrentSessions?: number; reason: string }
  | { allowed: false; reason: string };

/** An invalid policy file; `problems` lists each one, `message` all of them. */
export class PolicyError extends Error {
  override readonly name = 'PolicyError';
  readonly problems: readonly string[];

  constructor(problems: readonly string[], source = 'policy') {
    super(`Invalid ${source}:\n  - ${problems.join('\n  - ')}`);
    this.problems = problems;
  }
}

export const ROLES: readonly Role[] = ['operator', 'viewer', 'admin'];
// Most privileged wins when several rules match; see `decide`.
const ROLE_RANK: Readonly<Record<Role, number>> = { viewer: 1, operator: 2, admin: 3 };
const RULE_KEYS = new Set(['groups', 'users', 'emailDomains', 'instances', 'role', 'maxSessionSeconds', 'maxConcurrentSessions', 'description']);
const DOMAIN = /^[a-z0-9](?:[a-z0-9-]*[a-z0-9])?(?:\.[a-z0-9](?:[a-z0-9-]*[a-z0-9])?)*$/i;

/**
 * Parses and validates a policy file. Throws one PolicyError listing every problem (rule
 * index and field): YAML syntax, unknown keys, a rule without subjects, a bad role, …
 * `rules: []` is valid and denies everyone.
 */
export function parsePolicy(yamlText: string, source?: string): Policy {
  const problems: string[] = [];
  // uniqueKeys: a repeated `role:` must not silently replace the first one.
  const doc = parseDocument(yamlText, { uniqueKeys: true, prettyErrors: true });
  for (const error of doc.errors) problems.push(`YAML: ${error.message.split('\n')[0]}`);
  if (problems.length > 0) throw new PolicyError(problems, source);

  let root: unknown;
  try {
    // The default alias limit stops "billion laughs" expansion.
    root = doc.toJS({ maxAliasCount: 100 });
  } catch (cause) {
    throw new PolicyError([`YAML: ${(cause as Error).message}`], source);
  }
  if (!isPlainObject(root)) throw new PolicyError(['the file must be a mapping with a "rules" list'], source);
  for (const key of Object.keys(root)) if (key !== 'rules') problems.push(`unknown top-level key "${key}"`);
  const rawRules = root['rules'];
  if (!Array.isArray(rawRules)) {
    problems.push('"rules" must be a list');
    throw new PolicyError(problems, source);
  }
  const rules = rawRules.map((raw: unknown, index) => parseRule(raw, `rules[${index}]`, problems));
  if (problems.length > 0) throw new PolicyError(problems, source);
  return Object.freeze({ rules: Object.freeze(rules as PolicyRule[]) });
}

/** Reads and parses a policy file; the error names the file. */
export async function loadPolicyFile(path: string): Promise<Policy> {
  return parsePolicy(await readFile(path, 'utf8'), `policy file ${path}`);
}

function parseRule(raw: unknown, at: string, problems: string[]): PolicyRule | undefined {
  if (!isPlainObject(raw)) {
    problems.push(`${at}: must be a mapping`);
    return undefined;
  }
  for (const key of Object.keys(raw)) if (!RULE_KEYS.has(key)) problems.push(`${at}: unknown key "${key}"`);
  const rule: { -readonly [K in keyof PolicyRule]: PolicyRule[K] } = { instances: [], role: 'viewer' };
  const groups = stringList(raw, 'groups', at, problems);
  const users = stringList(raw, 'users', at, problems);
  const emailDomains = stringList(raw, 'emailDomains', at, problems);
  if (groups) rule.groups = groups;
  if (users) rule.users = users;
  if (emailDomains) {
    for (const domain of emailDomains) {
      if (!DOMAIN.test(domain)) problems.push(`${at}.emailDomains: "${domain}" is not a domain name (write example.com, not @example.com or *.example.com)`);
    }
    rule.emailDomains = emailDomains;
  }
  if (!('groups' in raw) && !('users' in raw) && !('emailDomains' in raw)) {
    problems.push(`${at}: needs at least one of groups, users, emailDomains`);
  }
  if (!('instances' in raw)) problems.push(`${at}.instances: is required`);
  else rule.instances = stringList(raw, 'instances', at, problems) ?? [];
  const role = raw['role'];
  if (role === undefined) problems.push(`${at}.role: is required (one of ${ROLES.join(', ')})`);
  else if (!ROLES.includes(role as Role)) problems.push(`${at}.role: must be one of ${ROLES.join(', ')}, not ${JSON.stringify(role)}`);
  else rule.role = role as Role;
  const max = raw['maxSessionSeconds'];
  if (max !== undefined) {
    if (typeof max !== 'number' || !Number.isInteger(max) || max <= 0) problems.push(`${at}.maxSessionSeconds: must be a positive whole number of seconds`);
    else rule.maxSessionSeconds = max;
  }
  const concurrent = raw['maxConcurrentSessions'];
  if (concurrent !== undefined) {
    if (typeof concurrent !== 'number' || !Number.isInteger(concurrent) || concurrent <= 0) problems.push(`${at}.maxConcurrentSessions: must be a positive whole number (1 = exclusive)`);
    else rule.maxConcurrentSessions = concurrent;
  }
  const description = raw['description'];
  if (description !== undefined) {
    if (typeof description !== 'string') problems.push(`${at}.description: must be a string`);
    else rule.description = description;
  }
  return Object.freeze(rule);
}

function stringList(raw: Record<string, unknown>, key: string, at: string, problems: string[]): readonly string[] | undefined {
  if (!(key in raw)) return undefined;
  const value = raw[key];
  if (!Array.isArray(value) || value.length === 0) {
    problems.push(`${at}.${key}: must be a non-empty list of strings`);
    return undefined;
  }
  const bad = value.findIndex((item) => typeof item !== 'string' || item.trim() === '');
  if (bad !== -1) {
    problems.push(`${at}.${key}[${bad}]: must be a non-empty string`);
    return undefined;
  }
  return Object.freeze([...(value as string[])]);
}

function isPlainObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

interface CompiledRule {
  readonly instanceMatchers: readonly ((id: string) => boolean)[];
  readonly users: ReadonlySet<string>;
  readonly userEmails: ReadonlySet<string>;
  readonly domains: ReadonlySet<string>;
}

// Compiled lazily and cached per rule object, so a hand-built Policy works as well as a parsed one.
const compiled = new WeakMap<PolicyRule, CompiledRule>();

function compile(rule: PolicyRule): CompiledRule {
  let entry = compiled.get(rule);
  if (entry === undefined) {
    entry = {
      instanceMatchers: rule.instances.map(compileGlob),
      users: new Set(rule.users),
      userEmails: new Set(rule.users?.map((user) => user.toLowerCase())),
      domains: new Set(rule.emailDomains?.map((domain) => domain.toLowerCase())),
    };
    compiled.set(rule, entry);
  }
  return entry;
}

/** Why a rule's subjects match the identity, or undefined when they do not. */
function subjectMatch(rule: PolicyRule, identity: Identity): string | undefined {
  const { users, userEmails, domains } = compile(rule);
  const group = rule.groups?.find((g) => identity.groups.includes(g));
  if (group !== undefined) return `group ${group}`;
  if (users.has(identity.sub)) return 'user (sub)';
  // Emails compare without case: IdPs and people are inconsistent about it. `sub` stays
  // exact because it is an opaque, case-sensitive identifier.
  const email = identity.email?.toLowerCase();
  if (email !== undefined && userEmails.has(email)) return 'user (email)';
  const at = email?.lastIndexOf('@') ?? -1;
  if (email !== undefined && at > 0 && domains.has(email.slice(at + 1))) return `email domain ${email.slice(at + 1)}`;
  return undefined;
}

/**
 * Decides whether `identity` may open `instanceId`. A rule matches when any of its subjects
 * (groups, users, emailDomains) matches the identity and any of its instance patterns
 * matches the id. No matching rule: denied.
 *
 * When several rules match, the most privileged role wins (admin > operator > viewer) and
 * ties go to the earlier rule. Taking the first match in file order instead would let a broad
 * `viewer` rule near the top silently demote an operator granted further down, and the
 * outcome would depend on rule order the reader cannot see at a glance; "most privileged"
 * gives the same answer however the file is arranged. `maxSessionSeconds` and
 * `maxConcurrentSessions` come from the winning rule.
 */
export function decide(policy: Policy, identity: Identity, instanceId: string): PolicyDecision {
  let best: { index: number; rule: PolicyRule; why: string } | undefined;
  const subjectOnly: number[] = [];
  for (const [index, rule] of policy.rules.entries()) {
    const why = subjectMatch(rule, identity);
    if (why === undefined) continue;
    if (!compile(rule).instanceMatchers.some((matches) => matches(instanceId))) {
      subjectOnly.push(index);
      continue;
    }
    // Strictly greater: on a tie the earlier rule stays.
    if (best === undefined || ROLE_RANK[rule.role] > ROLE_RANK[best.rule.role]) best = { index, rule, why };
  }
  if (best === undefined) {
    return {
      allowed: false,
      reason:
        subjectOnly.length > 0
          ? `rules ${subjectOnly.join(', ')} match the user but not instance ${instanceId}`
          : 'no rule matches the user',
    };
  }
  const { index, rule, why } = best;
  return {
    allowed: true,
    role: rule.role,
    ruleIndex: index,
    ...(rule.maxSessionSeconds === undefined ? {} : { maxSessionSeconds: rule.maxSessionSeconds }),
    ...(rule.maxConcurrentSessions === undefined ? {} : { maxConcurrentSessions: rule.maxConcurrentSessions }),
    reason: `rule ${index} grants ${rule.role} (${why})`,
  };
}

/**
 * How one rule relates to a request, for `npm run policy -- explain`: why its subjects match
 * the identity (undefined: they do not) and the first of its instance patterns that matches.
 */
export function matchRule(rule: PolicyRule, identity: Identity, instanceId: string): { subject: string | undefined; instance: string | undefined } {
  const index = compile(rule).instanceMatchers.findIndex((matches) => matches(instanceId));
  return { subject: subjectMatch(rule, identity), instance: index === -1 ? undefined : rule.instances[index] };
}

/** Whether some `admin` rule's subjects match `identity`, whatever its instances: for the admin API. */
export function isAdmin(policy: Policy, identity: Identity): boolean {
  return policy.rules.some((rule) => rule.role === 'admin' && subjectMatch(rule, identity) !== undefined);
}
