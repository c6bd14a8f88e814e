// Resilience: a replica SIGTERMed while sessions are still being set up (API call or upstream
// connect in flight) keeps its event loop turning while it waits for them. The soak found the
// drain spinning on an already-settled promise here: the setups could never finish, /healthz
// went unanswered and the heap grew by hundreds of MiB until the settle deadline.

import { describe, expect, it } from 'vitest';
import { createSetupTracker, drainSessions } from '../../../gateway/relay/drain-sessions.js';
import { createSessionRegistry } from '../../../gateway/sessions/session-registry.js';
import { within } from '../../helpers/gateway-harness.js';

describe('draining with only setups in flight', () => {
  it('lets timers and I/O run, so a setup that finishes during the drain is seen finishing', async () => {
    const setups = createSetupTracker();
    const setup = setups.begin();
    let timerRan = false;
    setTimeout(() => {
      timerRan = true;
      setup.end();
    }, 50);
    // A starved event loop never runs the timer: the drain then gives up at settleMs with the setup pending.
    await within(drainSessions(createSessionRegistry(), { setups, graceMs: 0, settleMs: 3000, pollMs: 20 }), 10_000, 'the drain');
    expect(timerRan).toBe(true);
    expect(setups.pending).toBe(0);
  });
});
