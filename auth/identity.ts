// Who a verified request belongs to. Produced by the JWT verifier, read by the policy,
// carried by tickets and written (sub and email only) into audit records.

export interface Identity {
  /** The token's `sub`. */
  sub: string;
  /** The token's `email` claim, when present and a string. */
  email?: string;
  /** Groups from the configured groups claim; empty when absent. */
  groups: readonly string[];
  /** The token's `exp`, seconds since the epoch. */
  expiresAt: number;
}

/** Roles a policy rule grants; see DESIGN.md. */
export type Role = 'operator' | 'viewer' | 'admin';
