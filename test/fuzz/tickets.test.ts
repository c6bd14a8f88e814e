// Property tests of ticket redemption: arbitrary strings are refused with ticket_invalid and
// never reach the store unless shaped like a ticket; whatever a store hands back, redemption
// ends in claims or ticket_invalid.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { TicketStore } from '../../auth/ticket-store.js';
import { createTicketService } from '../../auth/tickets.js';
import { GatewayError } from '../../gateway/errors.js';
import { fuzz } from './fuzz-settings.js';

const NOW = Date.UTC(2031, 0, 1);
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;

/** A store that answers `take` with a fixed value and counts how often it was asked. */
function recordingStore(value: () => string | undefined): TicketStore & { takes: number } {
  const store = {
    takes: 0,
    async save(): Promise<void> {},
    async take(): Promise<string | undefined> {
      store.takes++;
      return value();
    },
  };
  return store;
}

async function refusalCode(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(GatewayError);
    return (error as GatewayError).code;
  }
  return 'accepted';
}

const base64urlChar = fc.constantFrom(...'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_'.split(''));
const ticketShaped = fc.string({ unit: base64urlChar, minLength: 43, maxLength: 43 });
const nearTicket = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 100 }),
  fc.string({ unit: base64urlChar, minLength: 40, maxLength: 46 }),
  fc.tuple(ticketShaped, fc.constantFrom('=', ' ', '\n', '.', '+', '/', '\u0000', '%')).map(([t, c]) => t.slice(0, 42) + c),
  ticketShaped.map((t) => ` ${t}`),
);

describe('redeeming arbitrary tickets', () => {
  it('refuses anything not shaped like a ticket with ticket_invalid, without asking the store', async () => {
    await fc.assert(
      fc.asyncProperty(nearTicket, async (ticket) => {
        fc.pre(!TICKET_SHAPE.test(ticket));
        const store = recordingStore(() => undefined);
        const service = createTicketService({ store, now: () => NOW });
        expect(await refusalCode(service.redeem(ticket, 'lhins-abc123'))).toBe('ticket_invalid');
        expect(store.takes).toBe(0);
      }),
      fuzz(400),
    );
  });

  it('asks the store once for a ticket-shaped string and refuses it when unknown', async () => {
    await fc.assert(
      fc.asyncProperty(ticketShaped, async (ticket) => {
        const store = recordingStore(() => undefined);
        const service = createTicketService({ store, now: () => NOW });
        expect(await refusalCode(service.redeem(ticket, 'lhins-abc123'))).toBe('ticket_invalid');
        expect(store.takes).toBe(1);
      }),
      fuzz(200),
    );
  });

  it('refuses whatever corrupt value a store returns with ticket_invalid, never another error', async () => {
    // Mostly well-formed, each field sometimes broken or missing, so both outcomes are reached.
    const field = <T,>(valid: fc.Arbitrary<T>, broken: fc.Arbitrary<unknown>): fc.Arbitrary<unknown> =>
      fc.oneof({ weight: 5, arbitrary: valid }, { weight: 1, arbitrary: broken }, { weight: 1, arbitrary: fc.constant(undefined) });
    const claims = fc.record({
      sub: field(fc.string({ minLength: 1 }), fc.oneof(fc.constant(''), fc.integer(), fc.constant(null))),
      instanceId: field(fc.constant('lhins-abc123'), fc.constantFrom('lhins-other1', '', 7)),
      role: field(fc.constantFrom('operator', 'viewer', 'admin'), fc.constantFrom('root', null, 'Operator')),
      groups: field(fc.array(fc.string(), { maxLength: 2 }), fc.oneof(fc.string(), fc.constant(null))),
      tokenExpiresAt: field(fc.integer(), fc.oneof(fc.string(), fc.constant(null))),
    });
    const stored = fc.oneof(
      fc.string({ unit: 'binary', maxLength: 200 }),
      fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.stringify(v)),
      {
        weight: 4,
        arbitrary: fc
          .record({ v: field(fc.constant(1), fc.constantFrom(2, '1')), expiresAt: field(fc.constant(NOW + 10_000), fc.constantFrom(NOW, NOW - 1, 'later')), claims })
          .map((v) => JSON.stringify(v)),
      },
    );
    let accepted = 0;
    await fc.assert(
      fc.asyncProperty(ticketShaped, stored, async (ticket, raw) => {
        const service = createTicketService({ store: recordingStore(() => raw), now: () => NOW });
        const code = await refusalCode(service.redeem(ticket, 'lhins-abc123'));
        if (code === 'accepted') {
          // Only a well-formed, unexpired record for this very instance may come through.
          const record = JSON.parse(raw) as { v: unknown; expiresAt: unknown; claims: Record<string, unknown> };
          expect(record.v).toBe(1);
          expect(record.expiresAt).toBeGreaterThan(NOW);
          expect(record.claims.instanceId).toBe('lhins-abc123');
          expect(['operator', 'viewer', 'admin']).toContain(record.claims.role);
          expect(typeof record.claims.sub === 'string' && record.claims.sub !== '').toBe(true);
          accepted++;
        } else {
          expect(code).toBe('ticket_invalid');
        }
      }),
      fuzz(400),
    );
    expect(accepted).toBeGreaterThan(0);
  });
});
