// The audit log builds each record from an allow-list of the fields its type names: a field
// the schema does not name (a token passed by mistake, past the type checker) never reaches a
// sink, not even inside `actor`.

import { describe, expect, it } from 'vitest';
import type { AuditInput } from '../../../gateway/audit/audit-events.js';
import { createAuditLog } from '../../../gateway/audit/audit-log.js';

const SECRET = 'eyJhbGciOiJFUzI1NiJ9.c2VjcmV0.sig';

function captured(): { lines: string[]; log: ReturnType<typeof createAuditLog> } {
  const lines: string[] = [];
  const log = createAuditLog({ sink: { write: (line) => void lines.push(line) }, now: () => 1_700_000_000_000, newId: () => 'rec-1' });
  return { lines, log };
}

const base = { actor: { sub: 'sam', email: 'sam@example.com' }, instanceId: 'lhins-abc12345', clientIp: '192.0.2.1', gatewayRequestId: 'g-1' };

describe('audit records', () => {
  it.each<[string, AuditInput]>([
    ['ticket.issued', { type: 'ticket.issued', ...base, role: 'operator', expiresAt: '2025-01-01T00:00:30.000Z' }],
    ['session.denied', { type: 'session.denied', ...base, code: 'access_denied', stage: 'upgrade', closeCode: 4403 }],
    ['session.started', { type: 'session.started', ...base, sessionId: 's-1', role: 'operator', setupMs: 12 }],
    ['session.ended', { type: 'session.ended', ...base, sessionId: 's-1', durationMs: 5, bytesFromClient: 1, bytesFromUpstream: 2, closeCode: 1000, closedBy: 'client', reason: 'client_closed' }],
    ['auth.failed', { type: 'auth.failed', ...base, code: 'auth_invalid', source: 'bearer' }],
    ['ratelimit.exceeded', { type: 'ratelimit.exceeded', ...base, scope: 'user-sessions', retryAfter: 3 }],
    ['session.terminated', { type: 'session.terminated', ...base, sessionId: 's-1', terminatedBy: { sub: 'ada' } }],
  ])('a %s record keeps its named fields and drops any other', (_type, input) => {
    const { lines, log } = captured();
    // Extra members the type checker would reject, as a caller casting its way past it could pass them.
    const smuggled = { ...input, token: SECRET, upstreamUrl: 'wss://x.qcloud.com/?s=secret', actor: { ...input.actor, ticket: SECRET } } as unknown as AuditInput;
    if (input.type === 'session.terminated') (smuggled as unknown as { terminatedBy: object }).terminatedBy = { sub: 'ada', cookie: SECRET };
    const record = log.record(smuggled);
    expect(record).toEqual({ id: 'rec-1', ts: '2023-11-14T22:13:20.000Z', ...input });
    expect(lines).toHaveLength(1);
    expect(lines[0]).not.toMatch(/eyJ|secret|"token"|"ticket"|"cookie"|upstreamUrl/);
    const stored = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(Object.keys(stored).sort()).toEqual([...Object.keys(input), 'id', 'ts', 'prevHash', 'hash'].sort());
  });

  it('leaves out optional fields that are absent', () => {
    const { log } = captured();
    const record = log.record({ type: 'auth.failed', actor: null, clientIp: '192.0.2.1', gatewayRequestId: 'g-2', code: 'auth_required', source: 'none' });
    expect(Object.keys(record).sort()).toEqual(['actor', 'clientIp', 'code', 'gatewayRequestId', 'id', 'source', 'ts', 'type']);
  });

  it('refuses a record type the schema does not know', () => {
    const { lines, log } = captured();
    expect(() => log.record({ type: 'session.hijacked', ...base } as unknown as AuditInput)).toThrow(/session\.hijacked/);
    expect(lines).toHaveLength(0);
  });
});
