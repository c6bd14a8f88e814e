// Redaction is structural: after a full mix of tickets, sessions and refusals, no audit record
// (stdout, file, stream) and no log line holds a ticket, a JWT, the secret key, a cookie or
// anything of the upstream wss:// URL and its s= secret.

import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { streamHeadKey } from '../../../gateway/audit/audit-redis-sink.js';
import { DEMO_CREDENTIALS } from '../../../simulator/index.js';
import { eventually, startHarness, within } from '../../helpers/gateway-harness.js';

const POLICY = `
rules:
  - groups: [sre]
    instances: ["*"]
    role: operator
  - users: [victor@example.com]
    instances: ["*"]
    role: viewer
  - users: [ada@example.com]
    instances: ["*"]
    role: admin
`;

describe('audit and log redaction', () => {
  it('keeps every credential and upstream URL out of every audit record and log line', async () => {
    const file = join(mkdtempSync(join(tmpdir(), 'audit-redact-')), 'audit.log');
    const streamKey = `test:${randomUUID()}:audit`;
    const h = await startHarness({
      store: 'redis',
      env: { AUDIT_FILE: file, AUDIT_REDIS_STREAM: streamKey },
      policyYaml: POLICY,
      instances: [
        { id: 'lhins-red00001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-red00002', state: 'STOPPED', vnc: { kind: 'echo' } },
        { id: 'ins-red00001', state: 'RUNNING', vnc: { kind: 'echo' } },
      ],
    });
    const secrets: string[] = [DEMO_CREDENTIALS.secretKey];
    const apiAnswers: string[] = [];
    const redis = new Redis('redis://127.0.0.1:6379');
    try {
      const token = await h.token();
      secrets.push(token);
      const ticketFor = async (instanceId: string): Promise<string> => {
        const res = await h.requestTicket(instanceId, token);
        expect(res.status).toBe(201);
        secrets.push(res.body.ticket as string);
        return res.body.ticket as string;
      };
      const session = async (s: ReturnType<typeof h.open>): Promise<void> => {
        await within(s.opened, 5000, 'open');
        s.ws.send(Buffer.from('hello'));
        await eventually(() => s.received.length > 0, 5000, 'echo');
        s.ws.close();
        await within(s.closed, 5000, 'close');
      };
      // Sessions by ticket (subprotocol and query), bearer and cookie.
      const spent = await ticketFor('lhins-red00001');
      await session(h.open('lhins-red00001', { ticket: spent }));
      await session(h.open('ins-red00001', { query: `?ticket=${await ticketFor('ins-red00001')}`, protocols: ['binary'] }));
      await session(h.open('lhins-red00001', { headers: { Authorization: `Bearer ${token}` } }));
      await session(h.open('lhins-red00001', { headers: { Cookie: `corp_session=${token}`, Origin: h.gateway.url } }));
      // Refusals: spent and forged tickets, a bad JWT, no credential, policy, viewer, Tencent errors, a stopped instance.
      expect((await within(h.open('lhins-red00001', { ticket: spent }).closed, 5000, 'spent')).code).toBe(4401);
      const forged = 'F'.repeat(43);
      secrets.push(forged);
      expect((await within(h.open('lhins-red00001', { ticket: forged }).closed, 5000, 'forged')).code).toBe(4401);
      const badJwt = `${token.slice(0, -4)}AAAA`;
      secrets.push(badJwt);
      expect((await within(h.open('lhins-red00001', { headers: { Authorization: `Bearer ${badJwt}` } }).closed, 5000, 'bad jwt')).code).toBe(4401);
      expect((await h.requestTicket('lhins-red00001', badJwt)).status).toBe(401);
      expect(await within(h.open('lhins-red00001').refused, 5000, 'no credential')).toBe(401);
      const mallory = await h.idp.sign({ sub: 'mallory', groups: [] });
      const victor = await h.idp.sign({ sub: 'victor', email: 'victor@example.com', groups: [] });
      secrets.push(mallory, victor);
      expect((await h.requestTicket('lhins-red00001', mallory)).status).toBe(403);
      expect((await h.requestTicket('lhins-red00001', victor)).status).toBe(403);
      h.simulator.injectError({ code: 'UnsupportedOperation.InvalidInstanceState', instanceId: 'lhins-red00001', count: 1 });
      expect((await within(h.open('lhins-red00001', { ticket: await ticketFor('lhins-red00001') }).closed, 5000, 'tencent error')).code).toBe(4409);
      expect((await within(h.open('lhins-red00002', { ticket: await ticketFor('lhins-red00002') }).closed, 5000, 'stopped')).code).toBe(4409);
      // An admin reads the trail back (its request is logged too).
      const admin = await h.idp.sign({ sub: 'ada', email: 'ada@example.com', groups: [] });
      secrets.push(admin);
      await h.gateway.audit.flush();
      const query = await fetch(`${h.gateway.url}/api/v1/audit?limit=1000`, { headers: { Authorization: `Bearer ${admin}` } });
      expect(query.status).toBe(200);
      // The API's answer is scanned too.
      apiAnswers.push(await query.text());
      await eventually(() => h.audit().filter((r) => r.type === 'session.ended').length === 4, 5000, 'four session ends');
    } finally {
      await h.close();
    }
    const stream = ((await redis.xrange(streamKey, '-', '+')) as [string, string[]][]).map(([, fields]) => fields.join('\n'));
    await redis.del(streamKey, streamHeadKey(streamKey));
    redis.disconnect();
    const fileText = readFileSync(file, 'utf8');
    const types = new Set(h.audit().map((r) => r.type));
    for (const type of ['ticket.issued', 'session.started', 'session.ended', 'session.denied', 'auth.failed']) expect(types).toContain(type);
    expect(fileText.trim().split('\n')).toHaveLength(h.auditLines.length);
    expect(stream).toHaveLength(h.auditLines.length);

    const everything = [...h.auditLines, fileText, ...stream, ...h.logLines, ...apiAnswers].join('\n');
    for (const secret of secrets) expect(everything).not.toContain(secret);
    // Parts of a JWT are secrets too: its signature, and its payload as sent.
    for (const jwt of secrets.filter((s) => s.split('.').length === 3)) {
      for (const part of jwt.split('.').slice(1)) expect(everything).not.toContain(part);
    }
    for (const marker of ['wss://', 'wss%3A', '?s=', '&s=', 's%3D', 'corp_session=', 'Bearer ']) expect(everything).not.toContain(marker);
  });
});
