// The instance picker's list against the simulator's DescribeInstances (real HTTP, real TC3
// signatures): policy filtering, states, roles, explicit ids, caching and failed listings.

import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Identity } from '../../../auth/identity.js';
import { parsePolicy } from '../../../auth/policy.js';
import { createInstanceLister } from '../../../gateway/instances/instance-list.js';
import { createTencentClient } from '../../../gateway/tencent/client.js';
import { createStaticCredentialProvider } from '../../../gateway/tencent/credentials.js';
import { createHttpTransport } from '../../../gateway/tencent/http-transport.js';
import { DEMO_CREDENTIALS, startSimulator, type Simulator } from '../../../simulator/index.js';

const POLICY = parsePolicy(`
rules:
  - users: [alice@example.com]
    instances: ["lhins-web*", ins-cvm00001, lhins-notlist1]
    role: operator
  - users: [alice@example.com]
    instances: [lhins-view0001]
    role: viewer
  - users: [bob@example.com]
    instances: [lhins-web00001]
    role: operator
`);
const alice: Identity = { sub: 'alice', email: 'alice@example.com', groups: [], expiresAt: 0 };
const nobody: Identity = { sub: 'nobody', email: 'nobody@example.com', groups: [], expiresAt: 0 };

describe('the instance lister', () => {
  let sim: Simulator;
  beforeAll(async () => {
    sim = await startSimulator({
      instances: [
        { id: 'lhins-web00001', name: 'web one', state: 'RUNNING' },
        { id: 'lhins-web00002', name: 'web two', state: 'STOPPED' },
        { id: 'lhins-view0001', name: 'watch only', state: 'RUNNING' },
        { id: 'lhins-other001', name: 'not granted', state: 'RUNNING' },
        { id: 'ins-cvm00001', name: 'cvm', state: 'RUNNING', region: 'ap-shanghai' },
      ],
    });
  });
  afterAll(async () => {
    await sim?.close();
  });

  function lister(regions: string[], secretKey = DEMO_CREDENTIALS.secretKey, now?: () => number) {
    const tencent = createTencentClient({
      credentials: createStaticCredentialProvider({ secretId: DEMO_CREDENTIALS.secretId, secretKey }),
      transport: createHttpTransport(),
      region: 'ap-guangzhou',
      endpoints: { lighthouse: new URL(sim.lighthouseApiUrl), cvm: new URL(sim.cvmApiUrl) },
      timeoutMs: 5000,
    });
    return createInstanceLister({ tencent, regions, ...(now ? { now } : {}) });
  }

  it('lists only what the policy grants, with names, states and whether Connect is offered', async () => {
    const { instances, warnings } = await lister(['ap-guangzhou']).list(POLICY, alice);
    expect(warnings).toEqual([]);
    expect(instances).toEqual([
      // Explicit id in the policy, in another region than the one listed: shown without a state.
      { instanceId: 'ins-cvm00001', product: 'cvm', role: 'operator', connectable: true },
      { instanceId: 'lhins-notlist1', product: 'lighthouse', role: 'operator', connectable: true },
      { instanceId: 'lhins-view0001', product: 'lighthouse', name: 'watch only', state: 'RUNNING', region: 'ap-guangzhou', role: 'viewer', connectable: false },
      { instanceId: 'lhins-web00001', product: 'lighthouse', name: 'web one', state: 'RUNNING', region: 'ap-guangzhou', role: 'operator', connectable: true },
      { instanceId: 'lhins-web00002', product: 'lighthouse', name: 'web two', state: 'STOPPED', region: 'ap-guangzhou', role: 'operator', connectable: false },
    ]);
  });

  it('finds a CVM instance in the region it lives in', async () => {
    const { instances } = await lister(['ap-shanghai']).list(POLICY, alice);
    expect(instances.find((i) => i.instanceId === 'ins-cvm00001')).toEqual({
      instanceId: 'ins-cvm00001', product: 'cvm', name: 'cvm', state: 'RUNNING', region: 'ap-shanghai', role: 'operator', connectable: true,
    });
  });

  it('lists the explicit ids only, without calling Tencent Cloud, when no region is configured', async () => {
    const before = sim.calls.length;
    const { instances } = await lister([]).list(POLICY, alice);
    expect(instances.map((i) => i.instanceId)).toEqual(['ins-cvm00001', 'lhins-notlist1', 'lhins-view0001', 'lhins-web00001']);
    expect(instances.every((i) => i.state === undefined)).toBe(true);
    expect(sim.calls.length).toBe(before);
  });

  it('lists nothing for a user no rule matches', async () => {
    expect((await lister(['ap-guangzhou']).list(POLICY, nobody)).instances).toEqual([]);
  });

  it('reuses one listing for every user within the cache time, then fetches again', async () => {
    let now = 1_000_000;
    const shared = lister(['ap-guangzhou'], undefined, () => now);
    const count = () => sim.calls.filter((c) => c.action === 'DescribeInstances').length;
    const before = count();
    await shared.list(POLICY, alice);
    await shared.list(POLICY, nobody);
    expect(count() - before).toBe(2); // Lighthouse and CVM, once
    now += 15_001;
    await shared.list(POLICY, alice);
    expect(count() - before).toBe(4);
  });

  it('shows what it can and warns when a listing fails', async () => {
    const { instances, warnings } = await lister(['ap-guangzhou'], 'wrong-secret-key-000000000000000').list(POLICY, alice);
    expect(warnings).toEqual([
      'Could not list Lighthouse instances in ap-guangzhou (AuthFailure.SignatureFailure); instances there may be missing.',
      'Could not list CVM instances in ap-guangzhou (AuthFailure.SignatureFailure); instances there may be missing.',
    ]);
    expect(instances.map((i) => i.instanceId)).toEqual(['ins-cvm00001', 'lhins-notlist1', 'lhins-view0001', 'lhins-web00001']);
  });
});
