// Brute-force brake: failed authentications (invalid JWTs, unknown or spent tickets) are
// counted per client (an IPv4 address, an IPv6 /64) in the shared limiter, and past
// AUTH_FAILURES_PER_MINUTE the gateway answers 429 instead of verifying yet another guess.

import { isIP } from 'node:net';
import { GatewayError } from './errors.js';
import type { SlidingWindowLimiter } from './limits/limiter.js';

const WINDOW_MS = 60_000;

/**
 * What failures of `clientIp` are counted under. IPv4: the address. IPv6: its /64, written
 * `a:b:c:d::/64` — one subscriber, one LAN, gets a whole /64 (RFC 6177) and can use any of
 * its 2^64 addresses, so counting per address would let a guesser rotate past the brake.
 * An IPv4-mapped IPv6 address (`::ffff:192.0.2.1`, a dual-stack socket) is its IPv4 address.
 * Anything that is not an address ("unknown") is counted as it is.
 */
export function failureCountKey(clientIp: string): string {
  const address = clientIp.replace(/%.*$/, '');
  if (isIP(address) === 4) return address;
  if (isIP(address) !== 6) return clientIp;
  const groups = ipv6Groups(address);
  if (groups.slice(0, 5).every((group) => group === 0) && groups[5] === 0xffff) {
    const [high = 0, low = 0] = groups.slice(6);
    return [high >> 8, high & 0xff, low >> 8, low & 0xff].join('.');
  }
  return `${groups.slice(0, 4).map((group) => group.toString(16)).join(':')}::/64`;
}

/** The eight 16-bit groups of a valid IPv6 address (`::` expanded, a dotted IPv4 tail converted). */
function ipv6Groups(address: string): number[] {
  let text = address.toLowerCase();
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail !== null) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head = '', rest] = text.split('::');
  const parse = (part: string | undefined): number[] => (part === undefined || part === '' ? [] : part.split(':').map((group) => parseInt(group, 16)));
  const left = parse(head);
  const right = parse(rest);
  const zeros = rest === undefined ? [] : new Array<number>(8 - left.length - right.length).fill(0);
  return [...left, ...zeros, ...right];
}

/** Counts failures per client IP and refuses IPs past the threshold. */
export interface AuthFailureGuard {
  /**
   * Throws GatewayError('rate_limited') when this replica has seen `clientIp` go past the
   * threshold and its window has not freed a slot yet. Cheap: no store round trip.
   */
  check(clientIp: string): void;
  /**
   * Records one failure of `clientIp` in the shared limiter. Returns the rate_limited error to
   * answer instead of the authentication error when the IP is past the threshold fleet-wide;
   * undefined otherwise. Never rejects: when the store cannot be reached the failure goes
   * uncounted (the request is refused anyway) and `onStoreError` hears of it.
   */
  recordFailure(clientIp: string): Promise<GatewayError | undefined>;
}

export interface AuthFailureGuardOptions {
  limiter: SlidingWindowLimiter;
  /** Failures per IP per sliding minute that are still answered 401. */
  failuresPerMinute: number;
  /** Milliseconds, monotonic. Default performance.now(). */
  now?: () => number;
  /** How many blocked IPs this replica remembers at most. Default 10 000. */
  maxBlockedIps?: number;
  /** Told when the limiter's store fails while counting. */
  onStoreError?: (error: unknown) => void;
}

/**
 * Creates the guard. The count is fleet-wide (the shared limiter); the "blocked until" note
 * that lets `check` refuse before any verification is per replica, learnt the first time an
 * IP's failure is refused there. So every replica answers 429 from the first failure past the
 * threshold, and from then on refuses that IP's requests up front, valid credential or not,
 * until the window frees a slot.
 */
export function createAuthFailureGuard(options: AuthFailureGuardOptions): AuthFailureGuard {
  const { limiter, failuresPerMinute, now = () => performance.now(), maxBlockedIps = 10_000 } = options;
  if (!Number.isInteger(failuresPerMinute) || failuresPerMinute < 1) throw new RangeError('failuresPerMinute must be a positive integer');
  const blockedUntil = new Map<string, number>();

  const refusal = (retryAfterMs: number): GatewayError => {
    const retryAfterSeconds = Math.max(1, Math.ceil(retryAfterMs / 1000));
    return new GatewayError('rate_limited', {
      retryAfterSeconds,
      message: `Too many failed sign-in attempts from your address; try again in ${retryAfterSeconds} s.`,
    });
  };

  return {
    check(clientIp) {
      const key = failureCountKey(clientIp);
      const until = blockedUntil.get(key);
      if (until === undefined) return;
      const left = until - now();
      if (left > 0) throw refusal(left);
      blockedUntil.delete(key);
    },

    async recordFailure(clientIp) {
      const key = failureCountKey(clientIp);
      let decision;
      try {
        decision = await limiter.attempt(`auth-failures:${key}`, failuresPerMinute, WINDOW_MS);
      } catch (error) {
        options.onStoreError?.(error);
        return undefined;
      }
      if (decision.allowed) return undefined;
      // Bounded: a flood from many addresses must not grow this map without end.
      if (blockedUntil.size >= maxBlockedIps && !blockedUntil.has(key)) {
        const oldest = blockedUntil.keys().next();
        if (oldest.done !== true) blockedUntil.delete(oldest.value);
      }
      blockedUntil.set(key, now() + decision.retryAfterMs);
      return refusal(decision.retryAfterMs);
    },
  };
}
