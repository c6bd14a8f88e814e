// Where single-use tickets live between the ticket call and the WebSocket upgrade.
// Implementations: auth/memory-ticket-store.ts (one replica) and
// gateway/state/redis-ticket-store.ts (every replica agrees).

export interface TicketStore {
  /**
   * Saves `value` under `key` for `ttlMs`. Throws GatewayError('state_unavailable') when the
   * store cannot be reached: a ticket that was not stored must not be handed out.
   */
  save(key: string, value: string, ttlMs: number): Promise<void>;
  /**
   * Atomically reads and deletes `key`: of any number of concurrent callers, across
   * replicas, at most one receives the value. `undefined` when absent or expired.
   * Throws GatewayError('state_unavailable') when the store cannot be reached.
   */
  take(key: string): Promise<string | undefined>;
}
