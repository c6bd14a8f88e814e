// The gateway's Tencent side against the simulator: which errors are retried and which are
// not, one budget slot per attempt, the connect deadline, regions for both products, and
// per-account budgets against the simulator's per-account limits.

import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createMemoryLimiter } from '../../gateway/limits/memory-limiter.js';
import type { LimitDecision, SlidingWindowLimiter } from '../../gateway/limits/limiter.js';
import { createLogger } from '../../gateway/logger.js';
import { GatewayError } from '../../gateway/errors.js';
import { createTencentAccounts, type AccountRouter } from '../../gateway/tencent/accounts.js';
import { createHttpTransport } from '../../gateway/tencent/http-transport.js';
import { createRegionResolver } from '../../gateway/tencent/regions.js';
import { createHostAllowlist } from '../../gateway/tencent/vnc-url.js';
import { createVncUrlService, type VncUrlService } from '../../gateway/tencent/vnc-url-service.js';
import { createSelfSignedCertificate, DEMO_CREDENTIALS, startSimulator, type SelfSignedCertificate, type Simulator } from '../../simulator/index.js';

const ACCOUNT_B = { secretId: 'AKIDaccountB000000000000000000000000', secretKey: 'accountBsecretKey000000000000000', uin: 'b' };

/** A limiter that remembers every decision (an API budget's reservation as allowed or not, and its wait), per key. */
function countingLimiter(): SlidingWindowLimiter & { decisions: { key: string; decision: LimitDecision & { waitMs?: number } }[] } {
  const inner = createMemoryLimiter();
  const decisions: { key: string; decision: LimitDecision & { waitMs?: number } }[] = [];
  return {
    decisions,
    async attempt(key, limit, windowMs) {
      const decision = await inner.attempt(key, limit, windowMs);
      decisions.push({ key, decision });
      return decision;
    },
    forget: (key, attemptId) => inner.forget(key, attemptId),
    async reserve(key, limit, windowMs, maxWaitMs) {
      const turn = await inner.reserve(key, limit, windowMs, maxWaitMs);
      decisions.push({ key, decision: turn.granted ? { allowed: true, remaining: 0, retryAfterMs: 0, waitMs: turn.waitMs } : { allowed: false, remaining: 0, retryAfterMs: turn.retryAfterMs } });
      return turn;
    },
  };
}

let sim: Simulator;
let limiter: ReturnType<typeof countingLimiter>;
let accounts: AccountRouter;
let service: VncUrlService;

let transport: ReturnType<typeof createHttpTransport>;
let tls: SelfSignedCertificate;

beforeAll(async () => {
  tls = await createSelfSignedCertificate(mkdtempSync(join(tmpdir(), 'vnc-gateway-retries-')));
  transport = createHttpTransport({ ca: [readFileSync(tls.certPath, 'utf8')] });
  sim = await startSimulator({
    tls: { cert: tls.cert, key: tls.key },
    accounts: [DEMO_CREDENTIALS, ACCOUNT_B],
    instances: [
      { id: 'lhins-retry001', state: 'RUNNING', vnc: { kind: 'echo' } },
      { id: 'lhins-stopped1', state: 'STOPPED' },
      { id: 'lhins-creating', state: 'CREATING' },
      { id: 'lhins-shanghai', state: 'RUNNING', region: 'ap-shanghai' },
      { id: 'ins-shanghai', state: 'RUNNING', region: 'ap-shanghai' },
      { id: 'lhins-bacct001', state: 'RUNNING' },
    ],
  });
  limiter = countingLimiter();
  const endpoint = new URL(sim.apiUrl);
  accounts = await createTencentAccounts({
    defaultSource: { kind: 'chain', keys: DEMO_CREDENTIALS, profilePaths: [], metadataUrl: new URL('http://127.0.0.1:9/') },
    defaultRequired: true,
    defaultRegion: 'ap-guangzhou',
    endpoints: { lighthouse: endpoint, cvm: endpoint },
    accounts: [{ name: 'b', credentials: { kind: 'keys', ...ACCOUNT_B }, region: undefined, endpoints: { lighthouse: undefined, cvm: undefined }, instances: ['lhins-bacct*'] }],
    apiTimeoutMs: 2000,
    transport,
    limiter,
    requestsPerSecond: 10,
    logger: createLogger({ level: 'error' }),
  });
  service = createVncUrlService({
    accounts,
    regions: createRegionResolver([{ glob: 'ins-shang*', region: 'ap-shanghai' }]),
    allowHost: createHostAllowlist(['localhost']),
    connectDeadlineMs: 8000,
    retry: { random: () => 0 },
  });
});
afterAll(async () => {
  await sim?.close();
});

const callsFor = (id: string, since: number) => sim.calls.slice(since).filter((c) => c.instanceId === id);

describe('retries', () => {
  it.each([
    ['InternalError', false],
    ['InternalError.DescribeInstanceStatus', false],
    ['RequestLimitExceeded', false],
    ['RequestLimitExceeded.UinLimitExceeded', false],
    ['ServiceUnavailable', false],
    ['a dropped connection', true],
  ] as const)('retries %s and succeeds, spending a budget slot per attempt', async (code, drop) => {
    const since = sim.calls.length;
    const slots = limiter.decisions.length;
    sim.injectError({ code, instanceId: 'lhins-retry001', count: 2, ...(drop ? { drop } : {}) });
    const result = await service('lhins-retry001');
    expect(result.attempts).toBe(3);
    expect(result.url.protocol).toBe('wss:');
    expect(callsFor('lhins-retry001', since).map((c) => c.code)).toEqual(drop ? ['dropped', 'dropped', 'ok'] : [code, code, 'ok']);
    expect(limiter.decisions.slice(slots).filter((d) => d.decision.allowed)).toHaveLength(3);
  });

  it.each([
    ['AuthFailure.SignatureFailure', 'tencent_api_error'],
    ['AuthFailure.TokenFailure', 'tencent_api_error'],
    ['UnauthorizedOperation.NoPermission', 'tencent_api_error'],
    ['ResourceNotFound.InstanceIdNotFound', 'instance_not_found'],
    ['InvalidParameterValue.InstanceIdMalformed', 'instance_id_invalid'],
    ['UnsupportedOperation.InvalidInstanceState', 'instance_state'],
    ['OperationDenied.InstanceCreating', 'instance_state'],
    ['LimitExceeded', 'tencent_api_error'],
  ] as const)('never retries %s', async (code, gatewayCode) => {
    const since = sim.calls.length;
    // One failure only: a retry would succeed, so a retrying gateway fails this test.
    sim.injectError({ code, instanceId: 'lhins-retry001', count: 1 });
    await expect(service('lhins-retry001')).rejects.toMatchObject({ code: gatewayCode, upstreamCode: code });
    expect(callsFor('lhins-retry001', since)).toHaveLength(1);
  });

  it('gives up after its attempts and answers with the last error', async () => {
    const since = sim.calls.length;
    sim.injectError({ code: 'InternalError', instanceId: 'lhins-retry001', count: 4 });
    await expect(service('lhins-retry001')).rejects.toMatchObject({ code: 'tencent_api_error', upstreamCode: 'InternalError' });
    expect(callsFor('lhins-retry001', since)).toHaveLength(4);
  });

  it('stops retrying once the client has gone, without spending more budget', async () => {
    const since = sim.calls.length;
    let wanted = true;
    sim.injectError({ code: 'InternalError', instanceId: 'lhins-retry001', count: 1 });
    const attempt = service('lhins-retry001', {
      stillWanted: () => {
        const answer = wanted;
        if (sim.calls.length > since) wanted = false;
        return answer;
      },
    });
    await expect(attempt).rejects.toBeInstanceOf(GatewayError);
    expect(callsFor('lhins-retry001', since)).toHaveLength(1);
  });
});

describe('the connect deadline', () => {
  /** A service whose account allows one call per second, so a second call waits ~1.25 s for its slot. */
  async function slowBudgetService(connectDeadlineMs: number): Promise<VncUrlService> {
    const endpoint = new URL(sim.apiUrl);
    const router = await createTencentAccounts({
      defaultSource: { kind: 'keys', ...DEMO_CREDENTIALS },
      defaultRequired: true,
      defaultRegion: 'ap-guangzhou',
      endpoints: { lighthouse: endpoint, cvm: endpoint },
      accounts: [],
      // Longer than the deadline, so only the deadline can end a hung call in time.
      apiTimeoutMs: 10_000,
      transport,
      limiter: createMemoryLimiter(),
      requestsPerSecond: 1,
      logger: createLogger({ level: 'error' }),
    });
    return createVncUrlService({ accounts: router, regions: createRegionResolver([]), allowHost: createHostAllowlist(['localhost']), connectDeadlineMs, retry: { random: () => 0 } });
  }

  it('counts the wait for a budget slot against the deadline: a hung call after it ends by the deadline', async () => {
    const deadlineMs = 2000;
    const slow = await slowBudgetService(deadlineMs);
    await slow('lhins-retry001'); // spends this second's only slot
    sim.injectError({ code: 'InternalError', instanceId: 'lhins-retry001', hang: true, count: 1 });
    const started = Date.now();
    await expect(slow('lhins-retry001')).rejects.toMatchObject({ code: 'tencent_api_timeout', closeCode: 4504 });
    // Generous margin, but far below the ~1.25 s budget wait plus a full deadline's call.
    expect(Date.now() - started).toBeLessThan(deadlineMs + 600);
  });

  it('refuses with 4504, without calling, when the budget wait leaves too little time for an attempt', async () => {
    const slow = await slowBudgetService(1500);
    await slow('lhins-retry001');
    const since = sim.calls.length;
    await expect(slow('lhins-retry001')).rejects.toMatchObject({ code: 'tencent_api_timeout', closeCode: 4504 });
    expect(callsFor('lhins-retry001', since)).toHaveLength(0);
  });
});

describe('regions', () => {
  it.each(['lhins-shanghai', 'ins-shanghai'])('sends the requested region for %s', async (id) => {
    const since = sim.calls.length;
    const result = await service(id, { region: 'ap-shanghai' });
    expect(result.region).toBe('ap-shanghai');
    expect(callsFor(id, since).map((c) => c.region)).toEqual(['ap-shanghai']);
  });

  it('falls back to INSTANCE_REGIONS, then to the default region', async () => {
    expect((await service('ins-shanghai')).region).toBe('ap-shanghai');
    // Not mapped: the default region, where the instance does not exist.
    await expect(service('lhins-shanghai')).rejects.toMatchObject({ code: 'instance_not_found' });
    expect(sim.calls.at(-1)?.region).toBe('ap-guangzhou');
  });

  it('refuses a region name that is not one', async () => {
    await expect(service('lhins-shanghai', { region: 'ap-shanghai\r\nX-Evil: 1' })).rejects.toThrow(RangeError);
  });
});

describe('several accounts', () => {
  it("calls with the instance's account and spends that account's budget", async () => {
    const slots = limiter.decisions.length;
    const since = sim.calls.length;
    expect((await service('lhins-bacct001')).account).toBe('b');
    expect((await service('lhins-retry001')).account).toBe('default');
    expect(callsFor('lhins-bacct001', since).map((c) => c.secretId)).toEqual([ACCOUNT_B.secretId]);
    expect(callsFor('lhins-retry001', since).map((c) => c.secretId)).toEqual([DEMO_CREDENTIALS.secretId]);
    expect(limiter.decisions.slice(slots).filter((d) => d.decision.allowed).map((d) => d.key)).toEqual(['api-calls:b', 'api-calls']);
  });

  it('gives entries that name the same uin one budget, since they are one Tencent account', async () => {
    const shared = countingLimiter();
    const endpoint = new URL(sim.apiUrl);
    const keys = { kind: 'keys', ...ACCOUNT_B } as const;
    const entry = (name: string, glob: string, uin?: string) => ({ name, credentials: keys, region: undefined, endpoints: { lighthouse: undefined, cvm: undefined }, instances: [glob], ...(uin ? { uin } : {}) });
    const router = await createTencentAccounts({
      defaultSource: { kind: 'keys', ...DEMO_CREDENTIALS },
      defaultRequired: true,
      defaultRegion: 'ap-guangzhou',
      endpoints: { lighthouse: endpoint, cvm: endpoint },
      accounts: [entry('b-one', 'lhins-bacct*', '100000000002'), entry('b-two', 'lhins-retry*', '100000000002'), entry('c', 'lhins-shang*')],
      apiTimeoutMs: 2000,
      transport,
      limiter: shared,
      requestsPerSecond: 10,
      logger: createLogger({ level: 'error' }),
    });
    for (const id of ['lhins-bacct001', 'lhins-retry001', 'lhins-shanghai']) await router.accountFor(id)!.budget.take();
    expect(shared.decisions.map((d) => d.key)).toEqual(['api-calls:uin:100000000002', 'api-calls:uin:100000000002', 'api-calls:c']);
  });

  it("exhausts one account's budget through real calls while the other account's calls still succeed", async () => {
    // A simulator that allows each account one call per second, counted per account as Tencent
    // does, and a gateway budget of one call per second per account in front of it.
    const strict = await startSimulator({
      tls: { cert: tls.cert, key: tls.key },
      accounts: [DEMO_CREDENTIALS, ACCOUNT_B],
      apiRequestsPerSecond: 1,
      instances: [
        { id: 'lhins-aacct001', state: 'RUNNING', vnc: { kind: 'echo' } },
        { id: 'lhins-bacct001', state: 'RUNNING', vnc: { kind: 'echo' } },
      ],
    });
    try {
      const endpoint = new URL(strict.apiUrl);
      const router = await createTencentAccounts({
        defaultSource: { kind: 'keys', ...DEMO_CREDENTIALS },
        defaultRequired: true,
        defaultRegion: 'ap-guangzhou',
        endpoints: { lighthouse: endpoint, cvm: endpoint },
        accounts: [{ name: 'b', credentials: { kind: 'keys', ...ACCOUNT_B }, region: undefined, endpoints: { lighthouse: undefined, cvm: undefined }, instances: ['lhins-bacct*'] }],
        apiTimeoutMs: 2000,
        transport,
        limiter: createMemoryLimiter(),
        requestsPerSecond: 1,
        logger: createLogger({ level: 'error' }),
      });
      const svc = createVncUrlService({ accounts: router, regions: createRegionResolver([]), allowHost: createHostAllowlist(['localhost']), connectDeadlineMs: 8000 });

      // Four sessions of account A at once: one call now, one when the slot frees (~1.25 s), and
      // two refused, since a third slot would take longer than the 2 s a session may wait.
      const a = await Promise.allSettled([1, 2, 3, 4].map(() => svc('lhins-aacct001')));
      expect(a.filter((r) => r.status === 'fulfilled')).toHaveLength(2);
      const refusals = a.flatMap((r) => (r.status === 'rejected' ? [r.reason as GatewayError] : []));
      expect(refusals.map((e) => [e.code, e.closeCode])).toEqual([['rate_limited', 4429], ['rate_limited', 4429]]);

      // A's second is spent right now. Two sessions of account B: a budget shared with A would
      // make both wait for A's slot and refuse one; B's own budget serves one at once, the other
      // a second later.
      const b = await Promise.allSettled([1, 2].map(() => svc('lhins-bacct001')));
      expect(b.map((r) => r.status)).toEqual(['fulfilled', 'fulfilled']);
      expect(b.map((r) => (r.status === 'fulfilled' ? r.value.account : ''))).toEqual(['b', 'b']);

      // The simulator, counting per account, accepted every call: A never reached Tencent's
      // limit, and B's first call landed inside the very second A had used up.
      const calls = strict.calls.filter((c) => c.action === 'DescribeInstanceVncUrl');
      expect(calls.map((c) => c.code)).toEqual(['ok', 'ok', 'ok', 'ok']);
      const aCalls = calls.filter((c) => c.secretId === DEMO_CREDENTIALS.secretId);
      const bCalls = calls.filter((c) => c.secretId === ACCOUNT_B.secretId);
      expect(aCalls.map((c) => c.instanceId)).toEqual(['lhins-aacct001', 'lhins-aacct001']);
      expect(bCalls.map((c) => c.instanceId)).toEqual(['lhins-bacct001', 'lhins-bacct001']);
      expect(bCalls[0]!.atMs - aCalls[1]!.atMs).toBeLessThan(1000);
    } finally {
      await strict.close();
    }
  });
});
