// Resilience: a gateway process SIGTERMed with live sessions. The sessions are drained (one
// ends by itself within SHUTDOWN_GRACE_S, the rest are closed with 1001), the process exits 0 by
// itself after the grace, every start and end record is in AUDIT_FILE when it has exited, and
// the file's chain verifies.
// (The in-process drain: test/integration/relay/shutdown-drain.test.ts.)

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../../gateway/audit/audit-events.js';
import { verifyFiles } from '../../../gateway/audit/audit-verify.js';
import type { SimInstance } from '../../../simulator/index.js';
import { eventually, within } from '../../helpers/gateway-harness.js';
import { openSession, spawnGateway, startFleetWorld, type FleetWorld, type GatewayProcess } from '../fleet/gateway-fleet.js';

const instances: SimInstance[] = Array.from({ length: 3 }, (_, i) => ({ id: `lhins-term000${i}`, state: 'RUNNING', vnc: { kind: 'echo' } }));

describe('a replica SIGTERMed with live sessions', () => {
  let world: FleetWorld;
  let gateway: GatewayProcess | undefined;
  const auditFile = join(mkdtempSync(join(tmpdir(), 'vnc-gateway-sigterm-')), 'audit.jsonl');

  beforeAll(async () => {
    world = await startFleetWorld(instances);
    gateway = await spawnGateway({ ...world.baseEnv, AUDIT_FILE: auditFile, AUDIT_STDOUT: 'false', SHUTDOWN_GRACE_S: '2' });
  }, 60_000);
  afterAll(async () => {
    gateway?.kill();
    await world?.close();
  });

  it('drains them, flushes one start and one end per session to the audit file, and the chain verifies', async () => {
    const g = gateway as GatewayProcess;
    const token = await world.token('sam');
    const sessions = instances.map((instance) => openSession(g, instance.id, token));
    for (const s of sessions) expect((await within(s.outcome, 10_000, 'a session to open')).kind).toBe('open');

    const stopped = g.stop();
    // During the grace the sessions still relay; one ends by itself.
    const [finishing, ...lingering] = sessions;
    finishing!.ws.send(Buffer.from('during the grace'));
    await eventually(() => Buffer.concat(finishing!.received).toString().includes('during the grace'), 5000, 'an echo during the grace');
    finishing!.ws.close(1000);
    for (const s of lingering) expect((await within(s.closed, 10_000, 'the shutdown close')).code).toBe(1001);
    const exit = await within(stopped, 25_000, 'the process to exit');
    // A clean exit of its own, not the SIGKILL stop() falls back to; after the 2 s grace (the two
    // lingering sessions were closed when it ran out), well before the fallback.
    expect(exit).toMatchObject({ code: 0, signal: null, killed: false });
    expect(exit.afterMs).toBeGreaterThanOrEqual(1900);
    expect(exit.afterMs).toBeLessThan(12_000);
    expect(g.logs.some((line) => line.includes('"sessions drained"') && line.includes('"closed":2'))).toBe(true);

    expect(await verifyFiles([auditFile])).toMatchObject({ ok: true });
    const records = readFileSync(auditFile, 'utf8').trim().split('\n').map((line) => JSON.parse(line) as AuditRecord & { sessionId?: string });
    const started = records.filter((r) => r.type === 'session.started');
    const ended = records.filter((r) => r.type === 'session.ended');
    expect(started).toHaveLength(3);
    expect(new Set(ended.map((r) => r.sessionId))).toEqual(new Set(started.map((r) => r.sessionId)));
    expect(ended).toHaveLength(3);
    expect(ended.filter((r) => r.type === 'session.ended' && r.reason === 'shutdown' && r.closeCode === 1001)).toHaveLength(2);
    expect(ended.filter((r) => r.type === 'session.ended' && r.closedBy === 'client')).toHaveLength(1);
  }, 60_000);
});
