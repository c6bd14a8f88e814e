// A Redis outage under running gateway processes (a throwaway redis-server on its own port,
// never the shared 6379): by default new sessions are refused 4503 and the replica reports not
// ready while live sessions keep relaying; with LIMITS_ON_REDIS_FAILURE=local new sessions run
// on per-replica limits; when Redis returns, sessions start again with no restart.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SimInstance } from '../../../simulator/index.js';
import { eventually, within } from '../../helpers/gateway-harness.js';
import { createThrowawayRedis, type ThrowawayRedis } from '../state/throwaway-redis.js';
import { openSession, spawnGateway, startFleetWorld, type Attempt, type FleetWorld, type GatewayProcess } from './gateway-fleet.js';

const instances: SimInstance[] = Array.from({ length: 8 }, (_, i) => ({ id: `lhins-outage0${i}`, state: 'RUNNING', vnc: { kind: 'echo' } }));

describe('a Redis outage under running gateway processes', () => {
  let world: FleetWorld;
  let redis: ThrowawayRedis;
  let refusing: GatewayProcess;
  let local: GatewayProcess;

  beforeAll(async () => {
    world = await startFleetWorld(instances);
    redis = await createThrowawayRedis();
    await redis.start();
    const env = { ...world.baseEnv, REDIS_URL: `redis://127.0.0.1:${redis.port}`, SESSION_TTL_S: '3' };
    [refusing, local] = await Promise.all([spawnGateway(env), spawnGateway({ ...env, LIMITS_ON_REDIS_FAILURE: 'local' })]);
  }, 90_000);

  afterAll(async () => {
    await Promise.all([refusing?.stop(), local?.stop()]);
    redis?.kill();
    await world?.close();
  });

  async function echoes(attempt: Attempt, text: string): Promise<void> {
    attempt.ws.send(Buffer.from(text));
    await eventually(() => Buffer.concat(attempt.received).toString().includes(text), 5000, `the echo of ${text}`);
  }

  const readyz = async (gateway: GatewayProcess): Promise<number> => (await fetch(`${gateway.url}/readyz`)).status;

  it('refuses new sessions with 4503 while Redis is down, keeps live ones relaying, and recovers without a restart', async () => {
    const token = await world.token('sam');
    const live = openSession(refusing, 'lhins-outage00', token);
    expect((await within(live.outcome, 10_000, 'the live session')).kind).toBe('open');
    expect(await readyz(refusing)).toBe(200);

    await redis.shutdown();
    await eventually(() => refusing.logs.some((line) => line.includes('"redis.down"')), 5000, 'the gateway to notice');
    const refused = openSession(refusing, 'lhins-outage01', token);
    const outcome = await within(refused.outcome, 10_000, 'the refusal');
    expect(outcome).toMatchObject({ kind: 'closed', code: 4503 });
    if (outcome.kind === 'closed') expect(JSON.parse(outcome.reason)).toMatchObject({ code: 'state_unavailable' });
    expect(await readyz(refusing)).toBe(503);
    await echoes(live, 'during the outage');

    await redis.start();
    // No restart: the same process reconnects (backoff ≤ 2 s) and admits sessions again.
    let again: Attempt | undefined;
    await within((async () => {
      for (;;) {
        const attempt = openSession(refusing, 'lhins-outage02', token);
        const result = await within(attempt.outcome, 10_000, 'an attempt after the restart');
        if (result.kind === 'open') {
          again = attempt;
          return;
        }
        expect(result).toMatchObject({ kind: 'closed', code: 4503 });
        await new Promise((resolve) => setTimeout(resolve, 300));
      }
    })(), 20_000, 'a session to start after Redis returned');
    await echoes(again as Attempt, 'after the outage');
    await echoes(live, 'still relaying');
    expect(await readyz(refusing)).toBe(200);
    // The live session's lease was taken again by its heartbeat on the empty Redis.
    const admin = await world.token('root', ['admins']);
    await within((async () => {
      for (;;) {
        const res = await fetch(`${refusing.url}/api/v1/sessions`, { headers: { Authorization: `Bearer ${admin}` } });
        const body = (await res.json()) as { sessions: Array<{ instanceId: string }> };
        if (body.sessions.some((s) => s.instanceId === 'lhins-outage00')) return;
        await new Promise((resolve) => setTimeout(resolve, 250));
      }
    })(), 10_000, 'the live session to be relearnt');
    live.ws.close();
    again?.ws.close();
  }, 60_000);

  it('with LIMITS_ON_REDIS_FAILURE=local, starts new sessions on per-replica limits while Redis is down and says so in the log', async () => {
    const token = await world.token('sam');
    const downsBefore = local.logs.filter((line) => line.includes('"redis.down"')).length;
    await redis.shutdown();
    try {
      await eventually(() => local.logs.filter((line) => line.includes('"redis.down"')).length > downsBefore, 5000, 'the gateway to notice');
      const attempt = openSession(local, 'lhins-outage03', token);
      expect((await within(attempt.outcome, 10_000, 'the session')).kind).toBe('open');
      await echoes(attempt, 'on local limits');
      expect(local.logs.some((line) => line.includes('limits now count on THIS replica only'))).toBe(true);
      expect(await readyz(local)).toBe(200);
      attempt.ws.close();
    } finally {
      await redis.start();
    }
  }, 60_000);
});
