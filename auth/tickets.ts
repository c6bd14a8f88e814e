// Single-use, short-lived tickets that carry a verified identity from the ticket call to the
// WebSocket upgrade, so no long-lived JWT has to sit in a URL or subprotocol.

import { createHash, randomBytes as nodeRandomBytes } from 'node:crypto';
import { GatewayError } from '../gateway/errors.js';
import type { Role } from './identity.js';
import type { TicketStore } from './ticket-store.js';

/** What a ticket stands for: who, which instance, in which role. */
export interface TicketClaims {
  sub: string;
  email?: string;
  groups: readonly string[];
  instanceId: string;
  role: Role;
  maxSessionSeconds?: number;
  /** The JWT's `exp` (seconds since the epoch, as Identity.expiresAt). */
  tokenExpiresAt: number;
  /** The Tencent Cloud region the user asked for (validated by the caller). */
  region?: string;
}

/** Issues and redeems tickets. */
export interface TicketService {
  /** Stores the claims under a fresh ticket; `expiresAt` is ms since the epoch. */
  issue(claims: TicketClaims): Promise<{ ticket: string; expiresAt: number }>;
  /**
   * Consumes `ticket` and returns its claims. Throws GatewayError('ticket_invalid') when it is
   * malformed, unknown, already used, expired or for another instance; store failures
   * (`state_unavailable`) pass through.
   */
  redeem(ticket: string, instanceId: string): Promise<TicketClaims>;
}

export interface TicketServiceOptions {
  store: TicketStore;
  /** Lifetime, at most 30 (DESIGN.md: single use, ≤ 30 s). Default 30. */
  ttlSeconds?: number;
  now?: () => number;
  randomBytes?: (n: number) => Buffer;
}

const MAX_TTL_SECONDS = 30;
const TICKET_BYTES = 32;
// 32 bytes in unpadded base64url: 43 characters, all valid in a WebSocket subprotocol token.
const TICKET_SHAPE = /^[A-Za-z0-9_-]{43}$/;
const ROLES: readonly string[] = ['operator', 'viewer', 'admin'];

interface StoredTicket {
  v: 1;
  expiresAt: number;
  claims: TicketClaims;
}

/** Creates a ticket service; throws when `ttlSeconds` is not in (0, 30]. */
export function createTicketService(options: TicketServiceOptions): TicketService {
  const { store, ttlSeconds = MAX_TTL_SECONDS, now = Date.now, randomBytes = nodeRandomBytes } = options;
  if (typeof store?.save !== 'function' || typeof store.take !== 'function') throw new TypeError('a TicketStore is required');
  if (!Number.isFinite(ttlSeconds) || ttlSeconds <= 0 || ttlSeconds > MAX_TTL_SECONDS) {
    throw new RangeError(`ticket ttlSeconds must be more than 0 and at most ${MAX_TTL_SECONDS}`);
  }
  const ttlMs = Math.round(ttlSeconds * 1000);

  return {
    async issue(claims: TicketClaims): Promise<{ ticket: string; expiresAt: number }> {
      checkClaims(claims);
      const bytes = randomBytes(TICKET_BYTES);
      if (bytes.length !== TICKET_BYTES) throw new Error(`randomBytes returned ${bytes.length} bytes, not ${TICKET_BYTES}`);
      const ticket = bytes.toString('base64url');
      const expiresAt = now() + ttlMs;
      const stored: StoredTicket = { v: 1, expiresAt, claims: copyClaims(claims) };
      await store.save(ticketKey(ticket), JSON.stringify(stored), ttlMs);
      return { ticket, expiresAt };
    },

    async redeem(ticket: string, instanceId: string): Promise<TicketClaims> {
      // Garbage never reaches the store: no needless round trip, no odd keys.
      if (typeof ticket !== 'string' || !TICKET_SHAPE.test(ticket)) {
        throw new GatewayError('ticket_invalid', { cause: new Error('malformed ticket') });
      }
      // take() is the single-use guarantee: of concurrent redeemers, one gets the value.
      const raw = await store.take(ticketKey(ticket));
      if (raw === undefined) throw new GatewayError('ticket_invalid', { cause: new Error(`unknown or used ticket ${maskTicket(ticket)}`) });
      const stored = parseStored(raw);
      // Checked here as well as by the store's TTL: a store's expiry may be coarse or lag.
      if (now() >= stored.expiresAt) throw new GatewayError('ticket_invalid', { cause: new Error(`expired ticket ${maskTicket(ticket)}`) });
      // Refused and already consumed: a ticket seen on the wrong path may have leaked.
      if (stored.claims.instanceId !== instanceId) {
        throw new GatewayError('ticket_invalid', { cause: new Error(`ticket ${maskTicket(ticket)} was issued for another instance`) });
      }
      return stored.claims;
    },
  };
}

/**
 * The store key: SHA-256 of the ticket, hex. Whoever can read the store (a Redis dump, a
 * debug listing) learns nothing they could present as a ticket.
 */
function ticketKey(ticket: string): string {
  return createHash('sha256').update(ticket).digest('hex');
}

/** A ticket for logs: the first 4 characters and an ellipsis; never the usable whole. */
export function maskTicket(ticket: string): string {
  // The input may be attacker-chosen; keep only characters a real ticket could hold.
  return `${String(ticket).slice(0, 4).replace(/[^A-Za-z0-9_-]/g, '?')}…`;
}

function checkClaims(claims: TicketClaims): void {
  if (typeof claims?.sub !== 'string' || claims.sub === '') throw new TypeError('ticket claims need a sub');
  if (typeof claims.instanceId !== 'string' || claims.instanceId === '') throw new TypeError('ticket claims need an instanceId');
  if (!ROLES.includes(claims.role)) throw new TypeError('ticket claims need a role');
  if (!Array.isArray(claims.groups)) throw new TypeError('ticket claims need groups');
  if (!Number.isFinite(claims.tokenExpiresAt)) throw new TypeError('ticket claims need tokenExpiresAt');
}

function copyClaims(claims: TicketClaims): TicketClaims {
  return {
    sub: claims.sub,
    ...(claims.email === undefined ? {} : { email: claims.email }),
    groups: [...claims.groups],
    instanceId: claims.instanceId,
    role: claims.role,
    ...(claims.maxSessionSeconds === undefined ? {} : { maxSessionSeconds: claims.maxSessionSeconds }),
    tokenExpiresAt: claims.tokenExpiresAt,
    ...(claims.region === undefined ? {} : { region: claims.region }),
  };
}

function parseStored(raw: string): StoredTicket {
  try {
    const stored = JSON.parse(raw) as StoredTicket;
    if (stored?.v === 1 && Number.isFinite(stored.expiresAt)) {
      checkClaims(stored.claims);
      return stored;
    }
  } catch (cause) {
    throw new GatewayError('ticket_invalid', { cause });
  }
  throw new GatewayError('ticket_invalid', { cause: new Error('unrecognised stored ticket') });
}
