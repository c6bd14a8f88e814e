import { afterEach, describe, expect, it } from 'vitest';
import { startSimulator, type InstanceState, type SimInstance, type Simulator } from '../../simulator/index.js';
import { callApi, codeOf, type CallOptions } from './helpers.js';

const sims: Simulator[] = [];
afterEach(async () => {
  await Promise.all(sims.splice(0).map((s) => s.close()));
});

async function start(options: Parameters<typeof startSimulator>[0] = {}): Promise<{ sim: Simulator; call: (o?: CallOptions) => Promise<string>; clock: { ms: number } }> {
  const clock = { ms: Date.parse('2025-03-01T12:00:00Z') };
  const sim = await startSimulator({ now: () => clock.ms, apiRequestsPerSecond: 1000, ...options });
  sims.push(sim);
  return { sim, clock, call: async (o = {}) => codeOf(await callApi(sim, { now: () => clock.ms, ...o })) };
}

const lighthouse = (InstanceId: unknown): CallOptions => ({ body: { InstanceId } });
// null = send no X-TC-Region at all.
const cvm = (InstanceId: unknown, region: string | null = 'ap-guangzhou'): CallOptions => ({
  service: 'cvm',
  body: { InstanceId },
  ...(region !== null ? { region } : {}),
});

describe('DescribeInstanceVncUrl on the simulator', () => {
  it.each<[InstanceState, string]>([
    ['RUNNING', 'ok'],
    ['STOPPED', 'UnsupportedOperation.InvalidInstanceState'],
    ['SHUTDOWN', 'UnsupportedOperation.InvalidInstanceState'],
    ['CREATING', 'OperationDenied.InstanceCreating'],
    ['PENDING', 'OperationDenied.InstanceCreating'],
    ['STARTING', 'UnsupportedOperation.LatestOperationUnfinished'],
    ['REBOOTING', 'UnsupportedOperation.LatestOperationUnfinished'],
    ['STOPPING', 'UnsupportedOperation.LatestOperationUnfinished'],
  ])('answers a Lighthouse instance in state %s with %s', async (state, code) => {
    const { call } = await start({ instances: [{ id: 'lhins-abcd1234', state }] });
    expect(await call(lighthouse('lhins-abcd1234'))).toBe(code);
  });

  it.each<[InstanceState, string]>([
    ['RUNNING', 'ok'],
    ['STOPPED', 'UnsupportedOperation.InstanceStateStopped'],
    ['CREATING', 'UnsupportedOperation.InstanceStatePending'],
    ['STARTING', 'UnsupportedOperation.InstanceStateStarting'],
    ['STOPPING', 'UnsupportedOperation.InstanceStateStopping'],
    ['REBOOTING', 'UnsupportedOperation.InstanceStateRebooting'],
    ['SHUTDOWN', 'UnsupportedOperation.InstanceStateShutdown'],
    ['TERMINATING', 'UnsupportedOperation.InstanceStateTerminating'],
    ['LAUNCH_FAILED', 'InvalidInstanceState'],
  ])('answers a CVM instance in state %s with %s', async (state, code) => {
    const { call } = await start({ instances: [{ id: 'ins-abcd1234', state }] });
    expect(await call(cvm('ins-abcd1234'))).toBe(code);
  });

  it('serves the demo fleet by default, each in its documented state', async () => {
    const { call } = await start();
    expect(await call(lighthouse('lhins-demo0001'))).toBe('ok');
    expect(await call(lighthouse('lhins-stopped1'))).toBe('UnsupportedOperation.InvalidInstanceState');
    expect(await call(lighthouse('lhins-creating'))).toBe('OperationDenied.InstanceCreating');
    expect(await call(lighthouse('lhins-reboot01'))).toBe('UnsupportedOperation.LatestOperationUnfinished');
    expect(await call(cvm('ins-demo0001'))).toBe('ok');
  });

  it('follows setInstanceState', async () => {
    const { sim, call } = await start();
    sim.setInstanceState('lhins-demo0001', 'STOPPED');
    expect(await call(lighthouse('lhins-demo0001'))).toBe('UnsupportedOperation.InvalidInstanceState');
    sim.setInstanceState('lhins-demo0001', 'RUNNING');
    expect(await call(lighthouse('lhins-demo0001'))).toBe('ok');
    expect(() => sim.setInstanceState('lhins-nobody00', 'RUNNING')).toThrow(/unknown instance/);
  });

  it('tells malformed ids from unknown ones, per product', async () => {
    const { call } = await start();
    expect(await call(lighthouse('lhins-nope'))).toBe('InvalidParameterValue.InstanceIdMalformed');
    expect(await call(lighthouse('ins-demo0001'))).toBe('InvalidParameterValue.InstanceIdMalformed');
    expect(await call(lighthouse('lhins-zzzz9999'))).toBe('ResourceNotFound.InstanceIdNotFound');
    expect(await call(cvm('ins-x'))).toBe('InvalidInstanceId.Malformed');
    expect(await call(cvm('lhins-demo0001'))).toBe('InvalidInstanceId.Malformed');
    expect(await call(cvm('ins-zzzz9999'))).toBe('InvalidInstanceId.NotFound');
  });

  it('requires X-TC-Region for CVM but not for Lighthouse, and refuses unknown regions', async () => {
    const { call } = await start();
    expect(await call(cvm('ins-demo0001', null))).toBe('MissingParameter');
    expect(await call(cvm('ins-demo0001', 'mars-north-1'))).toBe('UnsupportedRegion');
    expect(await call({ ...lighthouse('lhins-demo0001'), region: 'mars-north-1' })).toBe('UnsupportedRegion');
    expect(await call(lighthouse('lhins-demo0001'))).toBe('ok');
  });

  it('does not find an instance from a region other than its own', async () => {
    const instances: SimInstance[] = [
      { id: 'ins-sg000001', state: 'RUNNING', region: 'ap-singapore' },
      { id: 'lhins-sg000001', state: 'RUNNING', region: 'ap-singapore' },
    ];
    const { call } = await start({ instances });
    expect(await call(cvm('ins-sg000001', 'ap-guangzhou'))).toBe('InvalidInstanceId.NotFound');
    expect(await call(cvm('ins-sg000001', 'ap-singapore'))).toBe('ok');
    expect(await call({ ...lighthouse('lhins-sg000001'), region: 'ap-guangzhou' })).toBe('ResourceNotFound.InstanceIdNotFound');
    expect(await call({ ...lighthouse('lhins-sg000001'), region: 'ap-singapore' })).toBe('ok');
  });

  it('answers bad JSON, a missing InstanceId, a wrong type and unknown parameters with parameter errors', async () => {
    const { call } = await start();
    expect(await call({ body: '{"InstanceId":' })).toBe('InvalidParameter');
    expect(await call({ body: '[]' })).toBe('InvalidParameter');
    expect(await call({ body: {} })).toBe('MissingParameter');
    expect(await call({ body: { InstanceId: 42 } })).toBe('InvalidParameter');
    expect(await call({ body: { InstanceId: 'lhins-demo0001', Extra: 1 } })).toBe('UnknownParameter');
  });

  it('serves each product alone on its own endpoint and refuses the other product there', async () => {
    const { sim, clock } = await start();
    const at = (apiUrl: string, o: CallOptions): Promise<string> => callApi({ apiUrl }, { now: () => clock.ms, ...o }).then(codeOf);
    expect(await at(sim.lighthouseApiUrl, lighthouse('lhins-demo0001'))).toBe('ok');
    expect(await at(sim.cvmApiUrl, cvm('ins-demo0001'))).toBe('ok');
    expect(await at(sim.lighthouseApiUrl, cvm('ins-demo0001'))).toBe('AuthFailure.InvalidAuthorization');
    expect(await at(sim.cvmApiUrl, lighthouse('lhins-demo0001'))).toBe('AuthFailure.InvalidAuthorization');
    expect(new Set([sim.apiUrl, sim.lighthouseApiUrl, sim.cvmApiUrl]).size).toBe(3);
  });

  it('answers an unsupported action with InvalidAction', async () => {
    const { call } = await start();
    expect(await call({ action: 'StartInstances' })).toBe('InvalidAction');
  });

  it('refuses the 11th request within one second with RequestLimitExceeded, and allows it once the window slides', async () => {
    const { sim, clock } = await start({ apiRequestsPerSecond: 10 });
    const call = async (): Promise<string> => codeOf(await callApi(sim, { now: () => clock.ms }));
    const start0 = clock.ms;
    for (let i = 0; i < 10; i++) {
      clock.ms = start0 + i * 50; // ten calls spread over 450 ms
      expect(await call()).toBe('ok');
    }
    clock.ms = start0 + 999;
    expect(await call()).toBe('RequestLimitExceeded');
    clock.ms = start0 + 1000; // the first call has left the window, the other nine have not
    expect(await call()).toBe('ok');
    expect(await call()).toBe('RequestLimitExceeded');
    clock.ms = start0 + 1050;
    expect(await call()).toBe('ok');
  });

  it('counts the request limit per account, product and action, as Tencent documents it "for this API"', async () => {
    const { sim, clock } = await start({ apiRequestsPerSecond: 2 });
    const vnc = async (): Promise<string> => codeOf(await callApi(sim, { now: () => clock.ms }));
    expect(await vnc()).toBe('ok');
    expect(await vnc()).toBe('ok');
    expect(await vnc()).toBe('RequestLimitExceeded');
    expect(codeOf(await callApi(sim, { now: () => clock.ms, action: 'DescribeInstances', body: {} }))).toBe('ok');
    // CVM's DescribeInstanceVncUrl is another interface with its own 10 per second, same account or not.
    const cvmVnc = async (): Promise<string> => codeOf(await callApi(sim, { now: () => clock.ms, ...cvm('ins-demo0001') }));
    expect(await cvmVnc()).toBe('ok');
    expect(await cvmVnc()).toBe('ok');
    expect(await cvmVnc()).toBe('RequestLimitExceeded');
  });

  it('refuses the 31st VNC URL for one instance within 60 s with LimitExceeded, other instances unaffected', async () => {
    const { sim, clock } = await start();
    const t0 = clock.ms;
    for (let i = 0; i < 30; i++) {
      clock.ms = t0 + i * 1000;
      expect(codeOf(await callApi(sim, { now: () => clock.ms }))).toBe('ok');
    }
    clock.ms = t0 + 59_999;
    const refused = await callApi(sim, { now: () => clock.ms });
    expect(codeOf(refused)).toBe('LimitExceeded');
    expect(refused.body.Response.Error?.Message).toMatch(/30 connection attempts per minute/);
    expect(codeOf(await callApi(sim, { now: () => clock.ms, body: { InstanceId: 'lhins-echo0001' } }))).toBe('ok');
    clock.ms = t0 + 60_000;
    expect(codeOf(await callApi(sim, { now: () => clock.ms }))).toBe('ok');
  });

  it('answers injected errors for the requested number of matching calls only', async () => {
    const { sim, call } = await start();
    sim.injectError({ code: 'InternalError.DescribeInstanceStatus', instanceId: 'lhins-echo0001', count: 2 });
    expect(await call(lighthouse('lhins-demo0001'))).toBe('ok');
    expect(await call(lighthouse('lhins-echo0001'))).toBe('InternalError.DescribeInstanceStatus');
    expect(await call(lighthouse('lhins-echo0001'))).toBe('InternalError.DescribeInstanceStatus');
    expect(await call(lighthouse('lhins-echo0001'))).toBe('ok');
    sim.injectError({ code: 'FailedOperation', message: 'boom' });
    const res = await callApi(sim, { now: () => Date.parse('2025-03-01T12:00:00Z') });
    expect(res.body.Response.Error).toEqual({ Code: 'FailedOperation', Message: 'boom' });
  });
});

describe('DescribeInstances on the simulator', () => {
  it('lists the instances of the signed product with paging and an id filter', async () => {
    const { sim, clock } = await start();
    const list = async (o: CallOptions) => (await callApi(sim, { now: () => clock.ms, action: 'DescribeInstances', ...o })).body.Response;
    const all = await list({ body: {} });
    expect(all.TotalCount).toBe(5);
    expect(all.InstanceSet).toContainEqual({ InstanceId: 'lhins-creating', InstanceName: 'demo-creating', InstanceState: 'PENDING' });
    const page = await list({ body: { Offset: 1, Limit: 2 } });
    expect(page.TotalCount).toBe(5);
    expect((page.InstanceSet as unknown[]).length).toBe(2);
    const one = await list({ body: { InstanceIds: ['lhins-demo0001', 'lhins-zzzz9999'] } });
    expect(one).toMatchObject({ TotalCount: 1, InstanceSet: [{ InstanceId: 'lhins-demo0001', InstanceState: 'RUNNING' }] });
    const byState = await list({ body: { Filters: [{ Name: 'instance-state', Values: ['STOPPED'] }] } });
    expect(byState).toMatchObject({ TotalCount: 1, InstanceSet: [{ InstanceId: 'lhins-stopped1' }] });
    const cvmList = await list({ service: 'cvm', region: 'ap-guangzhou', body: {} });
    expect((cvmList.InstanceSet as { InstanceId: string }[]).map((i) => i.InstanceId).sort()).toEqual(['ins-demo0001', 'ins-stopped1']);
    expect((await list({ body: { Limit: 101 } })).Error?.Code).toBe('InvalidParameterValue');
    expect((await list({ service: 'cvm', body: {} })).Error?.Code).toBe('MissingParameter');
  });
});
