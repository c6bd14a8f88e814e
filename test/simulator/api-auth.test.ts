import { createHash, createHmac } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { deriveTc3SigningKey } from '../../gateway/tencent/sign.js';
import { DEMO_CREDENTIALS, startSimulator, type Simulator } from '../../simulator/index.js';
import { callApi, codeOf, decodeVncUrl, rawRequest } from './helpers.js';

const TEMP = { secretId: 'AKIDtemporary000000000000000000000000', secretKey: 'temporarySecretKey00000000000000', token: 'session-token/with+chars==' };

describe('simulator API authentication', () => {
  let sim: Simulator;
  let clock = Date.parse('2025-03-01T12:00:00Z');
  const now = (): number => clock;

  beforeAll(async () => {
    sim = await startSimulator({ now, accounts: [DEMO_CREDENTIALS, TEMP], apiRequestsPerSecond: 1000 });
  });
  afterAll(async () => {
    await sim.close();
  });

  it('accepts a request signed by the gateway signer and returns a VNC URL of the documented shape', async () => {
    const res = await callApi(sim, { now });
    expect(res.status).toBe(200);
    expect(codeOf(res)).toBe('ok');
    const { InstanceVncUrl, RequestId } = res.body.Response;
    expect(RequestId).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    // Percent-encoded exactly like Tencent's example: wss%3A%2F%2Fhost%3Aport%2Fvnc%3Fs%3D…%26password%3D%26isWindows%3Dfalse%26isUbuntu%3Dfalse
    expect(InstanceVncUrl).toMatch(
      new RegExp(`^ws%3A%2F%2Flocalhost%3A${sim.vncPort}%2Fvnc%3Fs%3D[A-Za-z0-9_-]{43,}%26password%3D%26isWindows%3Dfalse%26isUbuntu%3Dfalse$`),
    );
    const url = decodeVncUrl(InstanceVncUrl);
    expect(url.pathname).toBe('/vnc');
    expect(Buffer.from(url.searchParams.get('s') ?? '', 'base64url').length).toBeGreaterThanOrEqual(32);
  });

  it('refuses a body changed after signing with AuthFailure.SignatureFailure', async () => {
    const res = await callApi(sim, { now, body: { InstanceId: 'lhins-demo0001' }, sentBody: '{"InstanceId":"lhins-echo0001"}' });
    expect(codeOf(res)).toBe('AuthFailure.SignatureFailure');
  });

  it('refuses a request signed with the wrong secret key with AuthFailure.SignatureFailure', async () => {
    expect(codeOf(await callApi(sim, { now, secretKey: 'not-the-key' }))).toBe('AuthFailure.SignatureFailure');
  });

  it('refuses a request whose signed Host is not the Host sent with AuthFailure.SignatureFailure', async () => {
    expect(codeOf(await callApi(sim, { now, signedHost: 'lighthouse.tencentcloudapi.com' }))).toBe('AuthFailure.SignatureFailure');
  });

  it('refuses an unknown SecretId with AuthFailure.SecretIdNotFound', async () => {
    expect(codeOf(await callApi(sim, { now, secretId: 'AKIDnobody' }))).toBe('AuthFailure.SecretIdNotFound');
  });

  it('refuses timestamps more than 300 s away with AuthFailure.SignatureExpire, in both directions', async () => {
    const nowS = Math.floor(clock / 1000);
    expect(codeOf(await callApi(sim, { now, timestamp: nowS - 301 }))).toBe('AuthFailure.SignatureExpire');
    expect(codeOf(await callApi(sim, { now, timestamp: nowS + 301 }))).toBe('AuthFailure.SignatureExpire');
    expect(codeOf(await callApi(sim, { now, timestamp: nowS - 299 }))).toBe('ok');
  });

  it('checks the timestamp against the injected clock', async () => {
    const before = clock;
    clock += 10 * 60_000;
    try {
      expect(codeOf(await callApi(sim, { now: () => before }))).toBe('AuthFailure.SignatureExpire');
      expect(codeOf(await callApi(sim, { now }))).toBe('ok');
    } finally {
      clock = before;
    }
  });

  it('refuses a credential scope for a service it does not serve with AuthFailure.InvalidAuthorization', async () => {
    expect(codeOf(await callApi(sim, { now, service: 'ecm', version: '2020-03-24' }))).toBe('AuthFailure.InvalidAuthorization');
  });

  it('refuses the other product scope for a Lighthouse version with NoSuchVersion', async () => {
    // Signed for cvm (the scope picks the product) but asking for Lighthouse's version.
    expect(codeOf(await callApi(sim, { now, service: 'cvm', version: '2020-03-24', region: 'ap-guangzhou' }))).toBe('NoSuchVersion');
  });

  it('refuses a wrong or missing X-TC-Version', async () => {
    expect(codeOf(await callApi(sim, { now, version: '2017-03-12' }))).toBe('NoSuchVersion');
    expect(codeOf(await callApi(sim, { now, headerOverrides: { 'X-TC-Version': undefined } }))).toBe('MissingParameter');
  });

  it('requires the matching X-TC-Token for temporary credentials and refuses a token for permanent ones', async () => {
    const temp = { now, secretId: TEMP.secretId, secretKey: TEMP.secretKey };
    expect(codeOf(await callApi(sim, { ...temp, token: TEMP.token }))).toBe('ok');
    expect(codeOf(await callApi(sim, temp))).toBe('AuthFailure.TokenFailure');
    expect(codeOf(await callApi(sim, { ...temp, token: 'another-token' }))).toBe('AuthFailure.TokenFailure');
    expect(codeOf(await callApi(sim, { now, token: 'unexpected' }))).toBe('AuthFailure.TokenFailure');
  });

  // Signs by hand (with the gateway's key derivation) so the header can say things signTc3 never would.
  async function manuallySigned(opts: { signedHeaders: string; date?: string }): Promise<string> {
    const url = new URL(sim.apiUrl);
    const body = '{"InstanceId":"lhins-demo0001"}';
    const timestamp = Math.floor(clock / 1000);
    const date = opts.date ?? new Date(timestamp * 1000).toISOString().slice(0, 10);
    const values: Record<string, string> = { 'content-type': 'application/json', host: url.host };
    const names = opts.signedHeaders.split(';');
    const canonical = ['POST', '/', '', names.map((n) => `${n}:${values[n]}\n`).join(''), opts.signedHeaders, createHash('sha256').update(body).digest('hex')].join('\n');
    const stringToSign = ['TC3-HMAC-SHA256', String(timestamp), `${date}/lighthouse/tc3_request`, createHash('sha256').update(canonical).digest('hex')].join('\n');
    const signature = createHmac('sha256', deriveTc3SigningKey(DEMO_CREDENTIALS.secretKey, date, 'lighthouse')).update(stringToSign).digest('hex');
    const res = await rawRequest(sim.apiUrl, {
      method: 'POST',
      path: '/',
      body,
      headers: {
        Host: url.host,
        'Content-Type': 'application/json',
        'X-TC-Action': 'DescribeInstanceVncUrl',
        'X-TC-Version': '2020-03-24',
        'X-TC-Timestamp': String(timestamp),
        Authorization: `TC3-HMAC-SHA256 Credential=${DEMO_CREDENTIALS.secretId}/${date}/lighthouse/tc3_request, SignedHeaders=${opts.signedHeaders}, Signature=${signature}`,
      },
    });
    return codeOf(res);
  }

  it('accepts a hand-made signature over content-type and host (the control for the next two)', async () => {
    expect(await manuallySigned({ signedHeaders: 'content-type;host' })).toBe('ok');
  });

  it('refuses a validly computed signature that does not cover host with AuthFailure.InvalidAuthorization', async () => {
    expect(await manuallySigned({ signedHeaders: 'content-type' })).toBe('AuthFailure.InvalidAuthorization');
  });

  it('refuses a consistent signature whose scope date is not the UTC date of X-TC-Timestamp', async () => {
    expect(await manuallySigned({ signedHeaders: 'content-type;host', date: '2025-02-28' })).toBe('AuthFailure.SignatureFailure');
  });

  it('refuses a missing or malformed Authorization header with AuthFailure.InvalidAuthorization', async () => {
    expect(codeOf(await callApi(sim, { now, headerOverrides: { Authorization: 'TC3-HMAC-SHA256 Credential=x' } }))).toBe(
      'AuthFailure.InvalidAuthorization',
    );
    expect(codeOf(await callApi(sim, { now, headerOverrides: { Authorization: undefined } }))).toBe('AuthFailure.InvalidAuthorization');
  });

  it('answers a GET, another path or a non-JSON content type with a Tencent error envelope', async () => {
    for (const [method, path, code] of [
      ['GET', '/', 'UnsupportedProtocol'],
      ['POST', '/other', 'InvalidRequest'],
    ] as const) {
      const res = await rawRequest(sim.apiUrl, { method, path, headers: {}, body: '' });
      expect(res.status).toBe(200);
      expect(res.body.Response.Error?.Code).toBe(code);
      expect(res.body.Response.RequestId).toMatch(/^[0-9a-f-]{36}$/);
    }
    const form = await callApi(sim, { now, headerOverrides: { 'Content-Type': 'application/x-www-form-urlencoded' } });
    expect(codeOf(form)).toBe('InvalidRequest');
  });

  it('records every call with its action, service, instance, region, outcome and request id', async () => {
    const before = sim.calls.length;
    const res = await callApi(sim, { now, service: 'cvm', region: 'ap-guangzhou', body: { InstanceId: 'ins-demo0001' } });
    expect(codeOf(res)).toBe('ok');
    expect(sim.calls.length).toBe(before + 1);
    expect(sim.calls.at(-1)).toEqual({
      atMs: clock,
      action: 'DescribeInstanceVncUrl',
      service: 'cvm',
      secretId: DEMO_CREDENTIALS.secretId,
      instanceId: 'ins-demo0001',
      region: 'ap-guangzhou',
      code: 'ok',
      requestId: res.body.Response.RequestId,
    });
  });
});
