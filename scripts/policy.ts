#!/usr/bin/env node
// `npm run policy -- explain …` shows which rule of a policy file decides a request and why;
// `npm run policy -- check FILE` validates a file before it is deployed (or reloaded).
// Compiled into the image as dist/scripts/policy.js (`vnc-gateway-policy`), run there with plain node.

import { readFile } from 'node:fs/promises';
import { realpathSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import type { Identity } from '../auth/identity.js';
import { decide, matchRule, parsePolicy, PolicyError, type Policy, type PolicyRule } from '../auth/policy.js';
import { isInstanceId } from '../gateway/tencent/products.js';

export interface PolicyCommandIo {
  out: (line: string) => void;
  err: (line: string) => void;
  /** POLICY_FILE, the default for --file. */
  defaultFile?: string;
}

const USAGE = `Usage:
  npm run policy -- explain --sub SUB [--email EMAIL] [--groups G1,G2] --instance ID [--file POLICY_FILE]
  npm run policy -- check [FILE]

explain  prints which rule decides whether this user may open this instance, and why.
         Exit status 0: allowed; 1: denied; 2: usage or file error.
check    validates a policy file and lists every problem. Exit status 0: valid; 1: invalid.
--file / FILE default to $POLICY_FILE, then ./policy.yaml.`;

/** Runs the command; resolves with the process exit status. */
export async function runPolicyCommand(argv: readonly string[], io: PolicyCommandIo): Promise<number> {
  const [command, ...rest] = argv;
  let args;
  try {
    args = parseArgs({
      args: [...rest],
      allowPositionals: true,
      options: {
        sub: { type: 'string' },
        email: { type: 'string' },
        groups: { type: 'string' },
        instance: { type: 'string' },
        file: { type: 'string' },
      },
    });
  } catch (error) {
    io.err(`${(error as Error).message}\n\n${USAGE}`);
    return 2;
  }
  const file = args.values.file ?? args.positionals[0] ?? io.defaultFile ?? 'policy.yaml';

  if (command === 'check') {
    const loaded = await load(file, io);
    if (loaded.policy === undefined) return loaded.status;
    io.out(`${file}: valid, ${describeCount(loaded.policy)}.`);
    return 0;
  }
  if (command !== 'explain') {
    io.err(command === undefined || command === 'help' || command === '--help' ? USAGE : `Unknown command ${JSON.stringify(command)}.\n\n${USAGE}`);
    return command === 'help' || command === '--help' ? 0 : 2;
  }

  const { sub, email, instance } = args.values;
  if (sub === undefined || sub === '' || instance === undefined || instance === '') {
    io.err(`explain needs --sub and --instance.\n\n${USAGE}`);
    return 2;
  }
  const loaded = await load(file, io);
  if (loaded.policy === undefined) return 2;
  const policy = loaded.policy;
  const groups = (args.values.groups ?? '').split(',').map((g) => g.trim()).filter((g) => g !== '');
  const identity: Identity = { sub, groups, expiresAt: 0, ...(email ? { email } : {}) };

  io.out(`Policy:   ${file} (${describeCount(policy)})`);
  io.out(`Who:      sub ${sub}${email ? `, email ${email}` : ', no email'}, groups ${groups.length > 0 ? groups.join(', ') : '(none)'}`);
  io.out(`Instance: ${instance}${isInstanceId(instance) ? '' : '  (warning: not a Lighthouse lhins-… or CVM ins-… id; the gateway would refuse it)'}`);
  io.out('');
  for (const [index, rule] of policy.rules.entries()) {
    const { subject, instance: pattern } = matchRule(rule, identity, instance);
    let verdict: string;
    if (subject === undefined) verdict = 'does not match the user';
    else if (pattern === undefined) verdict = `matches the user (${subject}) but none of its instances matches ${instance}`;
    else verdict = `MATCHES: ${subject}, instance pattern ${JSON.stringify(pattern)}`;
    io.out(`  rule ${index}: ${describeRule(rule)}`);
    io.out(`          ${verdict}`);
  }
  if (policy.rules.length > 0) io.out('');

  const decision = decide(policy, identity, instance);
  if (!decision.allowed) {
    io.out(`Decision: DENIED: ${decision.reason}. No matching rule means no access (403 / close 4403).`);
    return 1;
  }
  io.out(`Decision: ALLOWED: ${decision.reason}.`);
  const matching = policy.rules.filter((rule) => {
    const m = matchRule(rule, identity, instance);
    return m.subject !== undefined && m.instance !== undefined;
  }).length;
  if (matching > 1) io.out(`          ${matching} rules match; the most privileged role wins (admin > operator > viewer), ties go to the earlier rule.`);
  if (decision.maxSessionSeconds !== undefined) io.out(`          Sessions end after ${decision.maxSessionSeconds} s (maxSessionSeconds of rule ${decision.ruleIndex}).`);
  if (decision.role === 'viewer') io.out('          Note: the gateway refuses viewer access for now (view-only sessions are not available yet).');
  return 0;
}

async function load(file: string, io: PolicyCommandIo): Promise<{ policy?: Policy; status: number }> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (error) {
    io.err(`Cannot read ${file}: ${(error as Error).message}`);
    return { status: 2 };
  }
  try {
    return { policy: parsePolicy(text, `policy file ${file}`), status: 0 };
  } catch (error) {
    if (!(error instanceof PolicyError)) throw error;
    io.err(error.message);
    return { status: 1 };
  }
}

function describeCount(policy: Policy): string {
  return `${policy.rules.length} rule${policy.rules.length === 1 ? '' : 's'}`;
}

function describeRule(rule: PolicyRule): string {
  const subjects = [
    rule.groups ? `groups ${rule.groups.join(', ')}` : undefined,
    rule.users ? `users ${rule.users.join(', ')}` : undefined,
    rule.emailDomains ? `emailDomains ${rule.emailDomains.join(', ')}` : undefined,
  ].filter((part) => part !== undefined);
  const cap = rule.maxSessionSeconds === undefined ? '' : `, max ${rule.maxSessionSeconds} s`;
  const description = rule.description === undefined ? '' : ` (${rule.description})`;
  return `${subjects.join('; ')} -> instances ${rule.instances.join(', ')} as ${rule.role}${cap}${description}`;
}

const invokedDirectly = process.argv[1] !== undefined && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url);
if (invokedDirectly) {
  const status = await runPolicyCommand(process.argv.slice(2), {
    out: (line) => process.stdout.write(`${line}\n`),
    err: (line) => process.stderr.write(`${line}\n`),
    ...(process.env.POLICY_FILE ? { defaultFile: process.env.POLICY_FILE } : {}),
  });
  process.exitCode = status;
}
