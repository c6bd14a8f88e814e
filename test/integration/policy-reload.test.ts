// POLICY_FILE reloads while the gateway runs: on a file change (watch) and on SIGHUP
// (`reloadPolicy`, what main.ts calls). A live session survives every reload; a broken file
// keeps the last good policy and the log says why, problem by problem.

import { mkdtempSync, renameSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../helpers/gateway-harness.js';

const INSTANCE = 'lhins-echo0001';
const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-policy-reload-'));
const policyFile = join(dir, 'policy.yaml');

const SRE_ONLY = 'rules:\n  - groups: [sre]\n    instances: ["lhins-echo*"]\n    role: operator\n';
const BOB_ONLY = 'rules:\n  - users: [bob@example.com]\n    instances: ["lhins-echo*"]\n    role: operator\n';
const CAROL_ONLY = 'rules:\n  - users: [carol]\n    instances: ["*"]\n    role: operator\n';
const BROKEN = 'rules:\n  - groups: sre\n    role: boss\n  - users: [x]\n    instances: []\n    role: operator\n';

/** Replaces the file the way editors and ConfigMaps do: write aside, then rename over. */
function replacePolicy(text: string): void {
  const aside = join(dir, `.policy-${Date.now()}-${Math.random()}.tmp`);
  writeFileSync(aside, text);
  renameSync(aside, policyFile);
}

let h: Harness;
let live: OpenedSocket;

beforeAll(async () => {
  writeFileSync(policyFile, SRE_ONLY);
  h = await startHarness({
    store: 'memory',
    instances: [{ id: INSTANCE, state: 'RUNNING', vnc: { kind: 'echo' } }],
    env: { POLICY_FILE: policyFile },
  });
});

afterAll(async () => {
  live?.ws.terminate();
  await h?.close();
});

async function ticketStatus(sub: string, groups: string[]): Promise<number> {
  return (await h.requestTicket(INSTANCE, await h.idp.sign({ sub, email: `${sub}@example.com`, groups }))).status;
}

async function echoes(s: OpenedSocket, byte: number): Promise<void> {
  const before = s.received.length;
  s.ws.send(Buffer.from([byte]));
  await eventually(() => s.received.length > before, 5000, `echo of ${byte}`);
  expect([...s.received[s.received.length - 1]!]).toEqual([byte]);
}

it('opens a live session under the first policy', async () => {
  expect(await ticketStatus('bob', [])).toBe(403);
  const res = await h.requestTicket(INSTANCE, await h.token('sam'));
  live = h.open(INSTANCE, { ticket: res.body.ticket as string });
  await within(live.opened, 5000, 'open');
  await echoes(live, 1);
});

it('applies a changed file by itself, and the live session keeps relaying', async () => {
  replacePolicy(BOB_ONLY);
  await eventually(() => h.logLines.some((line) => line.includes('policy reloaded')), 10_000, 'the reload');
  expect(await ticketStatus('bob', [])).toBe(201);
  expect(await ticketStatus('sam', ['sre'])).toBe(403);
  await echoes(live, 2);
});

it('keeps the last good policy when the file breaks, and logs every problem', async () => {
  replacePolicy(BROKEN);
  await eventually(() => h.logLines.some((line) => line.includes('policy reload rejected')), 10_000, 'the rejection');
  const line = JSON.parse(h.logLines.find((l) => l.includes('policy reload rejected'))!) as { problems: string[]; level: number };
  expect(line.level).toBeGreaterThanOrEqual(50);
  expect(line.problems.join('\n')).toMatch(/rules\[0\]\.groups[\s\S]*rules\[0\]\.instances[\s\S]*rules\[0\]\.role[\s\S]*rules\[1\]\.instances/);
  expect(await ticketStatus('bob', [])).toBe(201);
  await echoes(live, 3);
});

it('reloads on SIGHUP (reloadPolicy), effective as soon as it resolves', async () => {
  writeFileSync(policyFile, CAROL_ONLY);
  const result = await h.gateway.reloadPolicy();
  // The watcher may have got there first; either way the new policy is in force now.
  expect(['reloaded', 'unchanged']).toContain(result.status);
  expect(await ticketStatus('carol', [])).toBe(201);
  expect(await ticketStatus('bob', [])).toBe(403);
  await echoes(live, 4);
});

it('reports a broken file on SIGHUP without changing anything', async () => {
  writeFileSync(policyFile, 'rules: [');
  const result = await h.gateway.reloadPolicy();
  // Whether the watcher rejected this content first or not, SIGHUP says it is rejected and why.
  expect(result.status).toBe('rejected');
  if (result.status === 'rejected') expect(result.problems[0]).toMatch(/YAML/);
  // Asked again with the file untouched (the watcher has surely seen it by now): the same answer.
  await eventually(() => h.logLines.filter((l) => l.includes('policy reload rejected') && l.includes('YAML')).length >= 1, 5000, 'the rejection');
  expect(await h.gateway.reloadPolicy()).toEqual(result);
  expect(await ticketStatus('carol', [])).toBe(201);
  await echoes(live, 5);
  live.ws.close(1000);
  const end = await within(live.closed, 5000, 'close');
  expect(end.code).toBe(1000);
  await eventually(() => h.audit().some((r) => r.type === 'session.ended'), 5000, 'session.ended');
  // One session, from the first policy to the last, ended by the client: no reload dropped it.
  expect(h.audit().filter((r) => r.type === 'session.ended')).toMatchObject([{ closedBy: 'client', closeCode: 1000 }]);
});
