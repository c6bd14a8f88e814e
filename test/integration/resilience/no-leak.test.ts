// Resilience: many short sessions ending every way a session ends (client close, client
// vanishing, client leaving during setup, upstream closing, upstream freezing, refusals), then
// the gateway's own bookkeeping is back where it started: the session registry, setups in
// flight and the fleet list are empty, and the timers, sockets and listeners the sessions
// created are gone. Internal counts, not wall-clock or RSS.

import { createHook } from 'node:async_hooks';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../../helpers/gateway-harness.js';

const ECHO = Array.from({ length: 6 }, (_, i) => `lhins-leak000${i}`);

/** Live async resources by type, counted from their init to their destroy. */
function trackResources(types: readonly string[]): { live(type: string): number; stop(): void } {
  const live = new Map<number, string>();
  const hook = createHook({
    init(asyncId, type) {
      if (types.includes(type)) live.set(asyncId, type);
    },
    destroy(asyncId) {
      live.delete(asyncId);
    },
  }).enable();
  return {
    live: (type) => [...live.values()].filter((t) => t === type).length,
    stop: () => void hook.disable(),
  };
}

const PROCESS_EVENTS = ['exit', 'SIGTERM', 'SIGINT', 'SIGHUP', 'uncaughtException', 'unhandledRejection', 'warning'] as const;

describe('no leak after many short sessions', () => {
  let h: Harness;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      instances: [
        ...ECHO.map((id) => ({ id, state: 'RUNNING' as const, vnc: { kind: 'echo' as const } })),
        { id: 'lhins-leakstop', state: 'STOPPED' },
      ],
      env: { KEEPALIVE_INTERVAL_S: '1', TENCENTCLOUD_API_TIMEOUT_MS: '300', SESSION_CONNECT_DEADLINE_MS: '3000', USER_SESSIONS_PER_MINUTE: '1000' },
      overrides: { relay: { closeTimeoutMs: 300 } },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('returns the session registry, setups, fleet list, timers, sockets and listeners to their baseline', async () => {
    const token = await h.token();
    const bearer = { headers: { Authorization: `Bearer ${token}` } };
    const open = (id: string): OpenedSocket => h.open(id, bearer);
    const echoOnce = async (s: OpenedSocket): Promise<void> => {
      await within(s.opened, 5000, 'open');
      let closedWith = '';
      void s.closed.then((c) => (closedWith = ` (closed ${c.code} ${c.reason})`));
      s.ws.send(Buffer.from('x'));
      await eventually(() => s.received.length > 0 || closedWith !== '', 5000, 'an echo');
      if (s.received.length === 0) throw new Error(`no echo${closedWith}`);
    };
    // One of each ending, so every path through the door and the relay runs once before counting.
    const round = async (r: number): Promise<void> => {
      const id = ECHO[r % ECHO.length]!;
      const closing = open(id);
      const vanishing = open(ECHO[(r + 1) % ECHO.length]!);
      await Promise.all([echoOnce(closing), echoOnce(vanishing)]);
      closing.ws.close(1000);
      vanishing.ws.terminate();
      // Refused after accept (instance stopped) and a client leaving while the API call hangs.
      const refused = open('lhins-leakstop');
      h.simulator.injectError({ code: 'InternalError', instanceId: ECHO[(r + 2) % ECHO.length]!, hang: true, count: 1 });
      const hungBefore = h.simulator.calls.filter((c) => c.code === 'hung').length;
      const leaving = open(ECHO[(r + 2) % ECHO.length]!);
      await within(leaving.opened, 5000, 'open');
      await eventually(() => h.simulator.calls.filter((c) => c.code === 'hung').length > hungBefore, 5000, 'the hung API call');
      leaving.ws.terminate();
      await within(Promise.all([closing.closed, vanishing.closed, refused.closed, leaving.closed]), 10_000, 'the round to end');
    };
    await round(0);
    const upstreamEnds = async (): Promise<void> => {
      const closedByUpstream = open(ECHO[3]!);
      const frozen = open(ECHO[4]!);
      await Promise.all([echoOnce(closedByUpstream), echoOnce(frozen)]);
      h.simulator.setInstanceState(ECHO[3]!, 'STOPPED');
      h.simulator.stallInstance(ECHO[4]!, 2000);
      await within(Promise.all([closedByUpstream.closed, frozen.closed]), 10_000, 'the upstream endings');
      h.simulator.setInstanceState(ECHO[3]!, 'RUNNING');
    };
    await upstreamEnds();
    await eventually(() => h.gateway.sessions.size === 0 && h.gateway.setups.pending === 0, 10_000, 'the warm-up to end');

    const resources = trackResources(['Timeout', 'TCPWRAP']);
    const listenersBefore = PROCESS_EVENTS.map((e) => process.listenerCount(e));
    const serverListenersBefore = ['upgrade', 'connection', 'request'].map((e) => h.gateway.server.listenerCount(e));
    try {
      for (let r = 1; r <= 10; r++) await round(r);
      await upstreamEnds();
      // 50 sessions later: the bookkeeping is empty again...
      await eventually(() => h.gateway.sessions.size === 0 && h.gateway.setups.pending === 0, 10_000, 'every session to end');
      expect(await h.gateway.fleet.list()).toHaveLength(0);
      // ...and what they created is gone, apart from a few pooled keep-alive sockets (which
      // close after their idle timeout) and the 5 s terminate guards of refused handshakes.
      // One leaked timer or socket per session would leave 50 or more.
      await eventually(() => resources.live('Timeout') <= 8 && resources.live('TCPWRAP') <= 8, 20_000,
        `timers and sockets to be released (now ${resources.live('Timeout')} timers, ${resources.live('TCPWRAP')} sockets)`).catch((error: unknown) => {
        throw new Error(`${(error as Error).message}: ${resources.live('Timeout')} timers, ${resources.live('TCPWRAP')} sockets still live`);
      });
      expect(PROCESS_EVENTS.map((e) => process.listenerCount(e))).toEqual(listenersBefore);
      expect(['upgrade', 'connection', 'request'].map((e) => h.gateway.server.listenerCount(e))).toEqual(serverListenersBefore);
      // The audit trail saw every relayed session end.
      const records = h.audit();
      const started = records.filter((r) => r.type === 'session.started').length;
      expect(records.filter((r) => r.type === 'session.ended')).toHaveLength(started);
    } finally {
      resources.stop();
    }
  }, 90_000);
});
