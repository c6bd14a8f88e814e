// Graceful shutdown of live sessions: let them finish on their own for a grace period, then
// close whatever is left with 1001. Sessions still being set up when draining starts join
// the registry later; they are waited for and closed the same way.

import { closeReason, ERROR_CATALOGUE } from '../errors.js';
import type { SessionRegistry } from '../sessions/session-registry.js';

/** Counts sessions accepted but not yet relaying (API call and upstream connect in flight). */
export interface SetupTracker {
  /** Marks one setup; `end()` is idempotent. */
  begin(): { end(): void };
  readonly pending: number;
}

export function createSetupTracker(): SetupTracker {
  let pending = 0;
  return {
    begin() {
      pending++;
      let ended = false;
      return {
        end() {
          if (ended) return;
          ended = true;
          pending--;
        },
      };
    },
    get pending() {
      return pending;
    },
  };
}

export interface DrainOptions {
  /** Sessions still being set up are waited for like live ones. */
  setups?: SetupTracker;
  /** How long sessions may keep running before they are closed (SHUTDOWN_GRACE_S). */
  graceMs: number;
  /** How long to keep closing sessions that finish their setup after the grace (API + connect deadlines). */
  settleMs?: number;
  pollMs?: number;
  now?: () => number;
}

export interface DrainResult {
  /** Sessions that ended by themselves within the grace period. */
  endedWithinGrace: number;
  /** Sessions closed with 1001. */
  closed: number;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms).unref());

/** Resolves once no session is live (or `settleMs` after the grace, whichever first). */
export async function drainSessions(sessions: SessionRegistry, options: DrainOptions): Promise<DrainResult> {
  const now = options.now ?? Date.now;
  const pollMs = options.pollMs ?? 50;
  const atStart = new Set(sessions.list().map((s) => s.sessionId));
  const graceEnds = now() + options.graceMs;
  const busy = (): boolean => sessions.size > 0 || (options.setups?.pending ?? 0) > 0;
  while (busy() && now() < graceEnds) await sleep(Math.min(pollMs, Math.max(1, graceEnds - now())));
  const stillLive = new Set(sessions.list().map((s) => s.sessionId));
  const endedWithinGrace = [...atStart].filter((id) => !stillLive.has(id)).length;

  const reason = closeReason('shutting_down', ERROR_CATALOGUE.shutting_down.message);
  const closedIds = new Set<string>();
  const settleEnds = now() + (options.settleMs ?? 20_000);
  while (busy() && now() < settleEnds) {
    const live = sessions.list().filter((s) => !closedIds.has(s.sessionId));
    for (const session of live) {
      closedIds.add(session.sessionId);
      session.relay.close(1001, reason, 'gateway', 'shutdown');
    }
    // relay.done resolves after the close handshake or the relay's close timeout, so this is bounded.
    // With nothing newly closed (only setups in flight), sleep: Promise.all([]) is already
    // settled, and racing it would spin on microtasks, starving the event loop (found by the soak).
    await (live.length > 0 ? Promise.race([Promise.all(live.map((s) => s.relay.done)), sleep(pollMs)]) : sleep(pollMs));
  }
  return { endedWithinGrace, closed: closedIds.size };
}
