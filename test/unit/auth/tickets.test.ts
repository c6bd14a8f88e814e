import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { createMemoryTicketStore } from '../../../auth/memory-ticket-store.js';
import type { TicketStore } from '../../../auth/ticket-store.js';
import { createTicketService, maskTicket, type TicketClaims } from '../../../auth/tickets.js';
import { GatewayError } from '../../../gateway/errors.js';

const claims: TicketClaims = {
  sub: 'user-1',
  email: 'alice@example.com',
  groups: ['sre'],
  instanceId: 'lhins-abc123',
  role: 'operator',
  maxSessionSeconds: 3600,
  tokenExpiresAt: 2_000_000_000,
};

/** A clock the test moves by hand. */
function manualClock(start = 1_000_000): { now: () => number; advance: (ms: number) => void } {
  let t = start;
  return { now: () => t, advance: (ms) => (t += ms) };
}

/** A memory store that records what was saved and how often it was asked. */
function spyStore(now: () => number): TicketStore & { saved: Map<string, { value: string; ttlMs: number }>; takes: number } {
  const inner = createMemoryTicketStore({ now });
  const saved = new Map<string, { value: string; ttlMs: number }>();
  const spy = {
    saved,
    takes: 0,
    async save(key: string, value: string, ttlMs: number) {
      saved.set(key, { value, ttlMs });
      await inner.save(key, value, ttlMs);
    },
    async take(key: string) {
      spy.takes++;
      return inner.take(key);
    },
  };
  return spy;
}

function setup(options: { ttlSeconds?: number } = {}) {
  const clock = manualClock();
  const store = spyStore(clock.now);
  const tickets = createTicketService({ store, now: clock.now, ...options });
  return { clock, store, tickets };
}

async function refused(promise: Promise<unknown>): Promise<GatewayError> {
  const error = await promise.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(error).toBeInstanceOf(GatewayError);
  expect((error as GatewayError).code).toBe('ticket_invalid');
  return error as GatewayError;
}

describe('ticket service', () => {
  it('issues a 43-character base64url ticket that expires in 30 s', async () => {
    const { clock, tickets } = setup();
    const { ticket, expiresAt } = await tickets.issue(claims);
    expect(ticket).toMatch(/^[A-Za-z0-9_-]{43}$/);
    expect(expiresAt).toBe(clock.now() + 30_000);
  });

  it('issues a ticket that is a valid WebSocket subprotocol token', async () => {
    const { tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    // RFC 6455 §4.1 / RFC 7230 token characters.
    expect(`vnc-gateway.ticket.${ticket}`).toMatch(/^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/);
  });

  it('redeems a ticket once for its claims', async () => {
    const { tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    await expect(tickets.redeem(ticket, 'lhins-abc123')).resolves.toEqual(claims);
  });

  it('refuses a replayed ticket', async () => {
    const { tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    await tickets.redeem(ticket, 'lhins-abc123');
    await refused(tickets.redeem(ticket, 'lhins-abc123'));
  });

  it('lets only one of many concurrent redeemers in', async () => {
    const { tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    const results = await Promise.allSettled(Array.from({ length: 10 }, () => tickets.redeem(ticket, 'lhins-abc123')));
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
  });

  it('refuses a ticket for another instance, and consumes it', async () => {
    const { tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    const error = await refused(tickets.redeem(ticket, 'lhins-other'));
    expect((error.cause as Error).message).toMatch(/another instance/);
    await refused(tickets.redeem(ticket, 'lhins-abc123'));
  });

  it('refuses an expired ticket', async () => {
    const { clock, tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    clock.advance(30_000);
    await refused(tickets.redeem(ticket, 'lhins-abc123'));
  });

  it('accepts a ticket just before it expires', async () => {
    const { clock, tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    clock.advance(29_999);
    await expect(tickets.redeem(ticket, 'lhins-abc123')).resolves.toMatchObject({ sub: 'user-1' });
  });

  it("checks the ticket's own expiry even when the store still holds it", async () => {
    const clock = manualClock();
    const lenient: TicketStore = (() => {
      const held = new Map<string, string>();
      return {
        async save(key, value) {
          held.set(key, value);
        },
        async take(key) {
          const value = held.get(key);
          held.delete(key);
          return value;
        },
      };
    })();
    const tickets = createTicketService({ store: lenient, now: clock.now, ttlSeconds: 5 });
    const { ticket } = await tickets.issue(claims);
    clock.advance(5_001);
    const error = await refused(tickets.redeem(ticket, 'lhins-abc123'));
    expect((error.cause as Error).message).toMatch(/expired/);
  });

  it('refuses a forged ticket of the right shape', async () => {
    const { tickets } = setup();
    await tickets.issue(claims);
    await refused(tickets.redeem('A'.repeat(43), 'lhins-abc123'));
  });

  it.each([
    ['an empty string', ''],
    ['too short', 'A'.repeat(42)],
    ['too long', 'A'.repeat(44)],
    ['padded base64', `${'A'.repeat(42)}=`],
    ['standard base64 characters', `${'A'.repeat(41)}+/`],
    ['whitespace', ` ${'A'.repeat(43)}`],
    ['a newline', `${'A'.repeat(43)}\n`],
    ['a JWT', 'eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln'],
  ])('refuses a malformed ticket (%s) without asking the store', async (_name, ticket) => {
    const { store, tickets } = setup();
    await refused(tickets.redeem(ticket, 'lhins-abc123'));
    expect(store.takes).toBe(0);
  });

  it('stores the ticket under its SHA-256, never the ticket itself', async () => {
    const { store, tickets } = setup();
    const { ticket } = await tickets.issue(claims);
    const [key, entry] = [...store.saved][0]!;
    expect(key).toBe(createHash('sha256').update(ticket).digest('hex'));
    expect(entry.value).not.toContain(ticket);
    expect(entry.ttlMs).toBe(30_000);
  });

  it('refuses a stored value it does not recognise', async () => {
    const clock = manualClock();
    const store = createMemoryTicketStore({ now: clock.now });
    const tickets = createTicketService({ store, now: clock.now });
    const ticket = 'B'.repeat(43);
    await store.save(createHash('sha256').update(ticket).digest('hex'), 'not json', 10_000);
    await refused(tickets.redeem(ticket, 'lhins-abc123'));
  });

  it('uses the injected random source', async () => {
    const clock = manualClock();
    const tickets = createTicketService({ store: createMemoryTicketStore({ now: clock.now }), now: clock.now, randomBytes: (n) => Buffer.alloc(n, 0xff) });
    expect((await tickets.issue(claims)).ticket).toBe('_'.repeat(42) + '8');
  });

  it('honours a shorter ttl', async () => {
    const { clock, tickets } = setup({ ttlSeconds: 10 });
    const { ticket, expiresAt } = await tickets.issue(claims);
    expect(expiresAt).toBe(clock.now() + 10_000);
    clock.advance(10_000);
    await refused(tickets.redeem(ticket, 'lhins-abc123'));
  });

  it('lets a store failure through rather than calling it a bad ticket', async () => {
    const failing: TicketStore = {
      save: async () => {
        throw new GatewayError('state_unavailable');
      },
      take: async () => {
        throw new GatewayError('state_unavailable');
      },
    };
    const tickets = createTicketService({ store: failing });
    await expect(tickets.issue(claims)).rejects.toMatchObject({ code: 'state_unavailable' });
    await expect(tickets.redeem('C'.repeat(43), 'lhins-abc123')).rejects.toMatchObject({ code: 'state_unavailable' });
  });

  it.each([0, -1, 31, Number.NaN])('refuses a ttl of %s seconds', (ttlSeconds) => {
    expect(() => createTicketService({ store: createMemoryTicketStore(), ttlSeconds })).toThrow(/at most 30/);
  });

  it('refuses to issue a ticket without a subject or instance', async () => {
    const { tickets } = setup();
    await expect(tickets.issue({ ...claims, sub: '' })).rejects.toThrow(/sub/);
    await expect(tickets.issue({ ...claims, instanceId: '' })).rejects.toThrow(/instanceId/);
  });
});

describe('maskTicket', () => {
  it.each([
    ['AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_abcde', 'AbCd…'],
    ['ab', 'ab…'],
    ['a\nb\u0000c', 'a?b?…'],
  ])('masks %j as %j', (ticket, masked) => {
    expect(maskTicket(ticket)).toBe(masked);
  });
});
