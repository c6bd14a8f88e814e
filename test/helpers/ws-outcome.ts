// How a WebSocket attempt against the gateway ended: refused with an HTTP status before the
// upgrade, closed with a code after it, or opened. Bounded, and leaves no socket behind.

import { within, type OpenedSocket } from './gateway-harness.js';

export type WsOutcomeKind = { kind: 'http'; status: number } | { kind: 'close'; code: number; reason: string } | { kind: 'open' };

/** Waits (at most `ms`) for the first decisive event; `open` counts only when nothing else came first. */
export async function outcomeOf(s: OpenedSocket, ms = 5000): Promise<WsOutcomeKind> {
  const result = await within(
    Promise.race([
      s.refused.then((status): WsOutcomeKind => ({ kind: 'http', status: status ?? 0 })),
      s.closed.then((c): WsOutcomeKind => ({ kind: 'close', code: c.code, reason: c.reason })),
    ]),
    ms,
    'the WebSocket outcome',
  );
  s.ws.terminate();
  return result;
}

/** `http 401`, `close 4401`: short and readable in assertion messages. */
export function describeOutcome(outcome: WsOutcomeKind): string {
  return outcome.kind === 'http' ? `http ${outcome.status}` : outcome.kind === 'close' ? `close ${outcome.code}` : 'open';
}
