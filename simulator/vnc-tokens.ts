// Single-use, short-lived VNC URL secrets: issued by the API, redeemed once by the VNC endpoint.

import { randomBytes } from 'node:crypto';

/** Why a token was refused. */
export type TokenRefusal = 'unknown' | 'expired' | 'reused';

/** The store shared by the API (issue) and the VNC endpoint (redeem). */
export interface VncTokenStore {
  /** Issues a fresh token for an instance: 32 random bytes, base64url. */
  issue(instanceId: string): string;
  /** Redeems a token: valid once, within the TTL. The first access burns it even if the TTL has passed. */
  redeem(token: string): { ok: true; instanceId: string } | { ok: false; reason: TokenRefusal };
}

/** Options for {@link createVncTokenStore}. */
export interface VncTokenStoreOptions {
  ttlMs: number;
  now: () => number;
}

interface Entry {
  instanceId: string;
  issuedAtMs: number;
  used: boolean;
}

/** Creates an in-memory token store. Old entries are pruned as new ones are issued. */
export function createVncTokenStore(options: VncTokenStoreOptions): VncTokenStore {
  const entries = new Map<string, Entry>();
  // Spent and expired tokens are remembered a while longer so a reuse is reported as such.
  const retentionMs = Math.max(options.ttlMs * 4, 60_000);
  const prune = (now: number): void => {
    for (const [token, entry] of entries) {
      if (now - entry.issuedAtMs > retentionMs) entries.delete(token);
    }
  };
  return {
    issue(instanceId) {
      const now = options.now();
      prune(now);
      const token = randomBytes(32).toString('base64url');
      entries.set(token, { instanceId, issuedAtMs: now, used: false });
      return token;
    },
    redeem(token) {
      const entry = entries.get(token);
      if (entry === undefined) return { ok: false, reason: 'unknown' };
      if (entry.used) return { ok: false, reason: 'reused' };
      entry.used = true;
      if (options.now() - entry.issuedAtMs > options.ttlMs) return { ok: false, reason: 'expired' };
      return { ok: true, instanceId: entry.instanceId };
    },
  };
}
