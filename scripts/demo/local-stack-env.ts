// The configuration that points a gateway at the local stand-ins: the Tencent Cloud simulator
// and the local IdP. One definition for the demo, the tests, the fleet and the benchmarks.

import { DEMO_CREDENTIALS, type Simulator } from '../../simulator/index.js';
import type { LocalIdp } from './local-idp.js';

export function localStackEnv(stack: { simulator: Pick<Simulator, 'lighthouseApiUrl' | 'cvmApiUrl'>; idp: LocalIdp; policyFile: string }): Record<string, string> {
  return {
    TENCENTCLOUD_SECRET_ID: DEMO_CREDENTIALS.secretId,
    TENCENTCLOUD_SECRET_KEY: DEMO_CREDENTIALS.secretKey,
    // Each product on its own endpoint, which refuses the other product: a gateway that mixed
    // the two variables up fails every test instead of passing against one shared URL.
    TENCENTCLOUD_LIGHTHOUSE_ENDPOINT: stack.simulator.lighthouseApiUrl,
    TENCENTCLOUD_CVM_ENDPOINT: stack.simulator.cvmApiUrl,
    // The simulator's VNC URLs name localhost, which its generated certificate covers.
    UPSTREAM_HOSTS: 'localhost',
    AUTH_PUBLIC_KEY_FILE: stack.idp.publicKeyFile,
    AUTH_ISSUER: stack.idp.issuer,
    AUTH_AUDIENCE: stack.idp.audience,
    POLICY_FILE: stack.policyFile,
  };
}
