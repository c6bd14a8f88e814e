// The live sessions of this replica: what the admin API lists and what a shutdown closes.
// (The cross-replica registry in Redis builds on this.)

import type { RelaySession } from '../relay/relay-session.js';

export interface LiveSession {
  sessionId: string;
  sub: string;
  email?: string;
  instanceId: string;
  clientIp: string;
  startedAt: number;
  relay: RelaySession;
}

export interface SessionRegistry {
  add(session: LiveSession): void;
  remove(sessionId: string): void;
  get(sessionId: string): LiveSession | undefined;
  list(): LiveSession[];
  readonly size: number;
}

export function createSessionRegistry(): SessionRegistry {
  const sessions = new Map<string, LiveSession>();
  return {
    add: (session) => void sessions.set(session.sessionId, session),
    remove: (sessionId) => void sessions.delete(sessionId),
    get: (sessionId) => sessions.get(sessionId),
    list: () => [...sessions.values()],
    get size() {
      return sessions.size;
    },
  };
}
