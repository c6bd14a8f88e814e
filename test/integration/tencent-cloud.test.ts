// The Tencent side through the whole gateway, against the simulator: a transient InternalError
// the user never sees, regions for both products (ticket body and ?region=), two accounts, and
// the gateway's own credentials from a profile file rewritten while it runs and from a rotating
// CVM role.

import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_CREDENTIALS, startMetadataServer, type MetadataServer, type SimInstance } from '../../simulator/index.js';
import { callApi } from '../simulator/helpers.js';
import { eventually, startHarness, within, type Harness, type OpenedSocket } from '../helpers/gateway-harness.js';

const ACCOUNT_B = { secretId: 'AKIDaccountB000000000000000000000000', secretKey: 'accountBsecretKey000000000000000', uin: 'b' };
const ECHO = { vnc: { kind: 'echo' } } as const;

/** Proves a byte goes round an open session, then closes it; a refusal closes the socket instead. */
async function echoAndClose(s: OpenedSocket): Promise<void> {
  await within(s.opened, 8000, 'open');
  s.ws.send(Buffer.from([7, 7]));
  await Promise.race([eventually(() => s.received.length > 0, 8000, 'echo'), s.closed.then((c) => Promise.reject(new Error(`closed ${c.code} ${c.reason}`)))]);
  s.ws.close();
  await within(s.closed, 5000, 'close');
}

/** Opens a session with a fresh ticket, proves a byte goes round, closes it. */
async function roundTrip(h: Harness, instanceId: string, body = '{}'): Promise<void> {
  const res = await h.requestTicket(instanceId, await h.token(), { body });
  expect(res.status).toBe(201);
  await echoAndClose(h.open(instanceId, { ticket: res.body.ticket as string }));
}

describe('sessions across regions and accounts', () => {
  let h: Harness;
  beforeAll(async () => {
    const instances: SimInstance[] = [
      { id: 'lhins-flaky001', state: 'RUNNING', ...ECHO },
      { id: 'lhins-shanghai', state: 'RUNNING', region: 'ap-shanghai', ...ECHO },
      { id: 'ins-shanghai', state: 'RUNNING', region: 'ap-shanghai', ...ECHO },
      { id: 'ins-beijing1', state: 'RUNNING', region: 'ap-beijing', ...ECHO },
      { id: 'lhins-bacct001', state: 'RUNNING', ...ECHO },
    ];
    h = await startHarness({
      store: 'memory',
      instances,
      simulator: { accounts: [DEMO_CREDENTIALS, ACCOUNT_B] },
      env: { INSTANCE_REGIONS: 'ins-beij*=ap-beijing' },
      prepare: (_sim, dir) => {
        const file = join(dir, 'gateway.yaml');
        writeFileSync(
          file,
          `accounts:\n  - name: second\n    TENCENTCLOUD_SECRET_ID: ${ACCOUNT_B.secretId}\n    TENCENTCLOUD_SECRET_KEY: ${ACCOUNT_B.secretKey}\n    instances: ["lhins-bacct*"]\n`,
        );
        return { GATEWAY_CONFIG: file };
      },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('opens the session when the first API call fails with InternalError, and the user never sees it', async () => {
    h.simulator.injectError({ code: 'InternalError', instanceId: 'lhins-flaky001', count: 1 });
    await roundTrip(h, 'lhins-flaky001');
    expect(h.simulator.calls.filter((c) => c.instanceId === 'lhins-flaky001').map((c) => c.code)).toEqual(['InternalError', 'ok']);
    await eventually(() => h.audit().some((r) => r.type === 'session.ended' && r.instanceId === 'lhins-flaky001'), 5000, 'session.ended');
    const records = h.audit().filter((r) => r.instanceId === 'lhins-flaky001');
    expect(records.map((r) => r.type)).toEqual(['ticket.issued', 'session.started', 'session.ended']);
    expect(h.logLines.some((l) => l.includes('retrying Tencent Cloud call') && l.includes('InternalError'))).toBe(true);
  });

  it.each(['lhins-shanghai', 'ins-shanghai'])('reaches %s in the region named in the ticket request', async (id) => {
    await roundTrip(h, id, '{"region":"ap-shanghai"}');
    expect(h.simulator.calls.findLast((c) => c.instanceId === id)?.region).toBe('ap-shanghai');
  });

  it.each(['lhins-shanghai', 'ins-shanghai'])('reaches %s in the region named by ?region= on a JWT-authenticated WebSocket', async (id) => {
    // Without the region the instance is not found (4404).
    await echoAndClose(h.open(id, { query: '?region=ap-shanghai', headers: { Authorization: `Bearer ${await h.token()}` } }));
    expect(h.simulator.calls.findLast((c) => c.instanceId === id)?.region).toBe('ap-shanghai');
  });

  it("keeps the ticket's region over a ?region= on its WebSocket, and takes the query's when the ticket has none", async () => {
    const withRegion = await h.requestTicket('ins-shanghai', await h.token(), { body: '{"region":"ap-shanghai"}' });
    await echoAndClose(h.open('ins-shanghai', { ticket: withRegion.body.ticket as string, query: '?region=ap-beijing' }));
    expect(h.simulator.calls.findLast((c) => c.instanceId === 'ins-shanghai')?.region).toBe('ap-shanghai');

    const without = await h.requestTicket('ins-shanghai', await h.token(), { body: '{}' });
    await echoAndClose(h.open('ins-shanghai', { ticket: without.body.ticket as string, query: '?region=ap-shanghai' }));
    expect(h.simulator.calls.findLast((c) => c.instanceId === 'ins-shanghai')?.region).toBe('ap-shanghai');
  });

  it.each(['Mars', 'ap-shanghai%0D%0AX-Evil:%201', 'ap-shanghai;x', ''])('refuses the WebSocket with HTTP 400 when ?region=%s is not a region name', async (region) => {
    const since = h.simulator.calls.length;
    const s = h.open('ins-shanghai', { query: `?region=${region}`, headers: { Authorization: `Bearer ${await h.token()}` } });
    expect(await within(s.refused, 5000, 'refusal')).toBe(400);
    expect(h.simulator.calls.length).toBe(since);
  });

  it('passes a well-formed region Tencent does not serve to Tencent, and ends the session with its refusal', async () => {
    const s = h.open('ins-shanghai', { query: '?region=ap-atlantis', headers: { Authorization: `Bearer ${await h.token()}` } });
    expect((await within(s.closed, 8000, 'close')).code).toBe(4502);
    expect(h.simulator.calls.findLast((c) => c.instanceId === undefined && c.region === 'ap-atlantis')?.code).toBe('UnsupportedRegion');
  });

  it('uses INSTANCE_REGIONS when the request names no region', async () => {
    await roundTrip(h, 'ins-beijing1');
    expect(h.simulator.calls.findLast((c) => c.instanceId === 'ins-beijing1')?.region).toBe('ap-beijing');
  });

  it('refuses a ticket request naming something that is not a region', async () => {
    const res = await h.requestTicket('lhins-shanghai', await h.token(), { body: '{"region":"ap-shanghai; x"}' });
    expect(res.status).toBe(400);
    expect(res.body).toMatchObject({ error: { code: 'bad_request' } });
  });

  it("calls with the account an instance belongs to, and logs each account's credential source once", async () => {
    await roundTrip(h, 'lhins-bacct001');
    expect(h.simulator.calls.findLast((c) => c.instanceId === 'lhins-bacct001')?.secretId).toBe(ACCOUNT_B.secretId);
    expect(h.simulator.calls.findLast((c) => c.instanceId === 'lhins-flaky001')?.secretId).toBe(DEMO_CREDENTIALS.secretId);
    const sources = h.logLines.filter((l) => l.includes('"Tencent Cloud credentials"')).map((l) => JSON.parse(l) as { account: string; credentialSource: string });
    expect(sources.map((s) => [s.account, s.credentialSource])).toEqual([['second', 'keys'], ['default', 'environment']]);
    const everything = h.logLines.join('\n');
    expect(everything).not.toContain(ACCOUNT_B.secretKey);
    expect(everything).not.toContain(DEMO_CREDENTIALS.secretKey);
  });
});

describe('the gateway credentials from a profile file', () => {
  const P1 = { secretId: 'AKIDprofileOne00000000000000000000000', secretKey: 'profileOneKey000000000000000000' };
  const P2 = { secretId: 'AKIDprofileTwo00000000000000000000000', secretKey: 'profileTwoKey000000000000000000', token: 'profile-two-token' };
  let h: Harness;
  let path = '';
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      instances: [{ id: 'lhins-profile1', state: 'RUNNING', ...ECHO }],
      simulator: { accounts: [P1, P2] },
      prepare: (_sim, dir) => {
        path = join(dir, 'credentials');
        writeFileSync(path, `[default]\nsecret_id = ${P1.secretId}\nsecret_key = ${P1.secretKey}\n`);
        return { TENCENTCLOUD_SECRET_ID: '', TENCENTCLOUD_SECRET_KEY: '', TENCENTCLOUD_CREDENTIALS_FILE: path };
      },
    });
  });
  afterAll(async () => {
    await h?.close();
  });

  it('signs with the profile, and with the new key once the file is rewritten', async () => {
    await roundTrip(h, 'lhins-profile1');
    writeFileSync(path, `[default]\nsecret_id = ${P2.secretId}\nsecret_key = ${P2.secretKey}\ntoken = ${P2.token}\n`);
    await roundTrip(h, 'lhins-profile1');
    expect(h.simulator.calls.filter((c) => c.instanceId === 'lhins-profile1').map((c) => [c.secretId, c.code])).toEqual([
      [P1.secretId, 'ok'],
      [P2.secretId, 'ok'],
    ]);
    expect(h.logLines.some((l) => l.includes(`"credentialSource":"profile ${path}"`))).toBe(true);
  });
});

describe('the gateway credentials from a CVM role', () => {
  let h: Harness;
  let metadata: MetadataServer;
  beforeAll(async () => {
    h = await startHarness({
      store: 'memory',
      instances: [{ id: 'lhins-role0001', state: 'RUNNING', ...ECHO }],
      prepare: async (sim) => {
        // Keys that live 2–3 s (ExpiredTime is whole seconds), so they expire mid-test.
        metadata = await startMetadataServer({ roleName: 'gateway-role', lifetimeMs: 3000, onIssue: (account) => sim.addAccount(account) });
        // No keys and no profile file (the harness passes no HOME; a named file that is absent
        // would be a configuration error): the chain ends at the role.
        return { TENCENTCLOUD_SECRET_ID: '', TENCENTCLOUD_SECRET_KEY: '', TENCENTCLOUD_METADATA_URL: metadata.url };
      },
    });
  });
  afterAll(async () => {
    await h?.close();
    await metadata?.close();
  });

  it('keeps opening sessions as the role key expires and rotates', async () => {
    await roundTrip(h, 'lhins-role0001');
    const first = metadata.issued[0]!;
    await eventually(() => Date.now() > first.expiresAtMs! + 100, 5000, 'the first key to expire');
    // The simulator really refuses the expired key...
    const stale = await callApi(h.simulator, { ca: h.caPem, secretId: first.secretId, secretKey: first.secretKey, token: first.token!, body: { InstanceId: 'lhins-role0001' } });
    expect(stale.body.Response.Error?.Code).toBe('AuthFailure.TokenFailure');
    // ...and the gateway has already moved on.
    await roundTrip(h, 'lhins-role0001');
    const used = h.simulator.calls.filter((c) => c.instanceId === 'lhins-role0001' && c.code === 'ok').map((c) => c.secretId);
    expect(used).toHaveLength(2);
    expect(used[1]).not.toBe(first.secretId);
    expect(metadata.issued.map((a) => a.secretId)).toContain(used[1]);
    expect(h.logLines.some((l) => l.includes('"credentialSource":"role gateway-role"'))).toBe(true);
    expect(h.logLines.join('\n')).not.toContain(first.secretKey);
  });
});
