// The credential chain against real files and a real local metadata stand-in: profile files
// re-read when rewritten, role keys refreshed before they expire, the chain's order, and the
// configuration that goes with it.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../../gateway/config.js';
import { NoCredentialsError, resolveCredentials } from '../../../gateway/tencent/credential-chain.js';
import { createProfileCredentialProvider, parseProfile } from '../../../gateway/tencent/profile-credentials.js';
import { createRoleCredentialProvider } from '../../../gateway/tencent/role-credentials.js';
import { startMetadataServer, type MetadataServer, type SimAccount } from '../../../simulator/index.js';

const dir = mkdtempSync(join(tmpdir(), 'vnc-gateway-creds-'));
const profile = (id: string, key: string, extra = ''): string => `# comment\n[other]\nsecret_id = WRONG\n\n[default]\nsecret_id = ${id}\nsecret_key = ${key}\n${extra}`;

let metadata: MetadataServer | undefined;
afterEach(async () => {
  await metadata?.close();
  metadata = undefined;
});

describe('the profile file', () => {
  it('reads secret_id, secret_key and token from [default] only', () => {
    expect(parseProfile(profile('AKIDa', 'ka', 'token = tok\n'))).toEqual({ secretId: 'AKIDa', secretKey: 'ka', token: 'tok' });
    expect(parseProfile(profile('AKIDa', 'ka'))).toEqual({ secretId: 'AKIDa', secretKey: 'ka' });
  });

  it('refuses a profile without a secret key, naming the key but not any value', () => {
    expect(() => parseProfile('[default]\nsecret_id = AKIDsecretvalue\n')).toThrow(/secret_id and secret_key/);
    expect(() => parseProfile('[default]\nsecret_id = AKIDsecretvalue\n')).not.toThrow(/AKIDsecretvalue/);
  });

  it('picks up a rewritten file on the next use', async () => {
    const path = join(dir, 'rewritten');
    writeFileSync(path, profile('AKIDfirst', 'k1'));
    const provider = createProfileCredentialProvider({ path });
    expect((await provider()).secretId).toBe('AKIDfirst');
    writeFileSync(path, profile('AKIDsecond-longer', 'k2', 'token = t2\n'));
    expect(await provider()).toEqual({ secretId: 'AKIDsecond-longer', secretKey: 'k2', token: 't2' });
  });

  it('fails rather than keep the old key when the file turns unreadable', async () => {
    const path = join(dir, 'broken');
    writeFileSync(path, profile('AKIDok', 'k'));
    const provider = createProfileCredentialProvider({ path });
    await provider();
    writeFileSync(path, '[default]\n');
    await expect(provider()).rejects.toThrow(/needs secret_id and secret_key/);
  });
});

describe('CVM role credentials from the metadata service', () => {
  it('fetches the role, then replaces the key before it expires, as the service rotates it', async () => {
    let clock = 1_700_000_000_000;
    const issued: SimAccount[] = [];
    metadata = await startMetadataServer({ lifetimeMs: 600_000, now: () => clock, onIssue: (a) => issued.push(a) });
    const provider = createRoleCredentialProvider({ metadataUrl: new URL(metadata.url), now: () => clock });
    const first = await provider();
    expect(provider.roleName()).toBe('vnc-gateway-role');
    expect(first).toEqual({ secretId: issued[0]!.secretId, secretKey: issued[0]!.secretKey, token: issued[0]!.token });
    clock += 60_000;
    expect(await provider()).toBe(first); // well inside its life: cached, no request
    expect(metadata.requests).toBe(1);
    // Past half its life (the 5-minute margin of a 10-minute key): refreshed before expiry.
    clock += 250_000;
    const second = await provider();
    expect(second.secretId).not.toBe(first.secretId);
    expect(second.secretId).toBe(issued[1]!.secretId);
    expect(clock).toBeLessThan(issued[0]!.expiresAtMs!);
  });

  it('keeps a still-valid key through a metadata hiccup, and fails once it has expired', async () => {
    let clock = 1_700_000_000_000;
    metadata = await startMetadataServer({ lifetimeMs: 600_000, now: () => clock, onIssue: () => undefined });
    const provider = createRoleCredentialProvider({ metadataUrl: new URL(metadata.url), now: () => clock });
    const first = await provider();
    clock += 400_000;
    metadata.failNext(1);
    expect(await provider()).toBe(first);
    clock += 300_000;
    metadata.failNext(1);
    await expect(provider()).rejects.toThrow(/HTTP 500/);
  });
});

describe('the credential chain', () => {
  const nowhere = new URL('http://127.0.0.1:9/latest/meta-data/');

  it('prefers keys from the environment, then a profile file, then the role', async () => {
    const path = join(dir, 'chain');
    writeFileSync(path, profile('AKIDprofile', 'k'));
    const keys = await resolveCredentials({ kind: 'chain', keys: { secretId: 'AKIDenv', secretKey: 'k' }, profilePaths: [path], metadataUrl: nowhere });
    expect(keys.source).toBe('environment');
    expect((await keys.provider()).secretId).toBe('AKIDenv');
    const fromFile = await resolveCredentials({ kind: 'chain', profilePaths: [join(dir, 'missing'), path], metadataUrl: nowhere });
    expect(fromFile.source).toBe(`profile ${path}`);
    metadata = await startMetadataServer({ roleName: 'ops-role', onIssue: () => undefined });
    const role = await resolveCredentials({ kind: 'chain', profilePaths: [join(dir, 'missing')], metadataUrl: new URL(metadata.url) });
    expect(role.source).toBe('role ops-role');
    expect((await role.provider()).token).toBe(metadata.issued[0]!.token);
  });

  it('says what it tried when no source has credentials', async () => {
    const attempt = resolveCredentials({ kind: 'chain', profilePaths: [join(dir, 'missing')], metadataUrl: nowhere }, { metadataTimeoutMs: 500 });
    await expect(attempt).rejects.toBeInstanceOf(NoCredentialsError);
    await expect(attempt).rejects.toThrow(/TENCENTCLOUD_SECRET_ID.*profile files .*missing.*CVM role at http:\/\/127\.0\.0\.1:9/);
  });
});

describe('the configuration of credentials, regions and accounts', () => {
  const base = { AUTH_PUBLIC_KEY_FILE: '/k.pem', AUTH_ISSUER: 'i', AUTH_AUDIENCE: 'a', POLICY_FILE: '/p.yaml' };

  it('needs no keys in the environment, and tries the profile files in Tencent SDK order', () => {
    const config = loadConfig({ ...base, HOME: '/home/op' });
    expect(config.tencent.secretId).toBeUndefined();
    expect(config.tencent.profilePaths).toEqual(['/home/op/.tencentcloud/credentials', '/etc/tencentcloud/credentials']);
    const file = join(dir, 'explicit-credentials');
    writeFileSync(file, profile('AKIDe', 'ke'));
    expect(loadConfig({ ...base, TENCENTCLOUD_CREDENTIALS_FILE: file }).tencent.profilePaths).toEqual([file]);
  });

  it('refuses an explicit TENCENTCLOUD_CREDENTIALS_FILE that does not exist, listed with the other problems, rather than falling through to the CVM role', () => {
    const missing = join(dir, 'no-such-credentials');
    let error: ConfigError | undefined;
    try {
      loadConfig({ ...base, TENCENTCLOUD_CREDENTIALS_FILE: missing, TENCENTCLOUD_REGION: 'nowhere!' });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect(error?.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(new RegExp(`^TENCENTCLOUD_CREDENTIALS_FILE: ${missing} is not a readable file`)),
        expect.stringMatching(/^TENCENTCLOUD_REGION/),
      ]),
    );
    // A directory is no profile file either.
    expect(() => loadConfig({ ...base, TENCENTCLOUD_CREDENTIALS_FILE: dir })).toThrow(/TENCENTCLOUD_CREDENTIALS_FILE: .* is not a readable file/);
  });

  it('reads an optional numeric uin per account, and refuses one that is not', () => {
    const yaml = (uin: string): string => `accounts:\n  - name: sh\n    role: true\n    uin: ${uin}\n    instances: ["lhins-sh*"]\n`;
    expect(loadConfig({ ...base, GATEWAY_CONFIG: '/g.yaml' }, { readFile: () => yaml('100012345678') }).tencent.accounts[0]?.uin).toBe('100012345678');
    expect(loadConfig({ ...base, GATEWAY_CONFIG: '/g.yaml' }, { readFile: () => yaml('"200012345678"') }).tencent.accounts[0]?.uin).toBe('200012345678');
    expect(() => loadConfig({ ...base, GATEWAY_CONFIG: '/g.yaml' }, { readFile: () => yaml('ops-team') })).toThrow(/"sh": uin must be the Tencent Cloud account id/);
  });

  it("refuses an account's TENCENTCLOUD_CREDENTIALS_FILE that does not exist", () => {
    const yaml = `accounts:\n  - name: file\n    TENCENTCLOUD_CREDENTIALS_FILE: ${join(dir, 'absent')}\n    instances: [lhins-file0001]\n`;
    expect(() => loadConfig({ ...base, GATEWAY_CONFIG: '/g.yaml' }, { readFile: () => yaml })).toThrow(/"file": TENCENTCLOUD_CREDENTIALS_FILE .*absent is not a readable file/);
  });

  it('lists every problem with keys, regions and accounts together', () => {
    const yaml = `
accounts:
  - name: Bad Name
    instances: []
  - name: two
    TENCENTCLOUD_SECRET_ID: AKIDonly
    TENCENTCLOUD_REGION: "ap guangzhou"
    instances: ["lhins-*"]
    colour: blue
  - name: three
    role: true
    TENCENTCLOUD_CREDENTIALS_FILE: /x
    instances: ["ins-*"]
`;
    let error: ConfigError | undefined;
    try {
      loadConfig({ ...base, GATEWAY_CONFIG: '/g.yaml', TENCENTCLOUD_SECRET_ID: 'AKIDx', INSTANCE_REGIONS: 'lhins-*=ap-shanghai,ins-*=Mars,x' }, { readFile: () => yaml });
    } catch (e) {
      error = e as ConfigError;
    }
    expect(error?.problems).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY go together/),
        expect.stringMatching(/INSTANCE_REGIONS: "Mars" is not a region/),
        expect.stringMatching(/INSTANCE_REGIONS: "x" is not glob=region/),
        expect.stringMatching(/"Bad Name": name must be lower-case/),
        expect.stringMatching(/"Bad Name": instances must be a non-empty list/),
        expect.stringMatching(/"two": unknown key colour/),
        expect.stringMatching(/"two": TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY go together/),
        expect.stringMatching(/"two": TENCENTCLOUD_REGION "ap guangzhou" is not a region/),
        expect.stringMatching(/"three": give exactly one credential source/),
      ]),
    );
  });

  it('reads an accounts list with keys, a profile file or a role', () => {
    const accountFile = join(dir, 'account-credentials');
    writeFileSync(accountFile, profile('AKIDf', 'kf'));
    const yaml = `
accounts:
  - name: shanghai
    TENCENTCLOUD_SECRET_ID: AKIDsh
    TENCENTCLOUD_SECRET_KEY: ksh
    TENCENTCLOUD_REGION: ap-shanghai
    TENCENTCLOUD_CVM_ENDPOINT: https://cvm.ap-shanghai.tencentcloudapi.com
    instances: ["lhins-sh*", "ins-sh*"]
  - name: file
    TENCENTCLOUD_CREDENTIALS_FILE: ${accountFile}
    instances: [lhins-file0001]
  - name: role
    role: ops-role
    instances: ["ins-r*"]
`;
    const config = loadConfig({ ...base, GATEWAY_CONFIG: '/g.yaml' }, { readFile: () => yaml });
    const [sh, file, role] = config.tencent.accounts;
    expect(sh).toMatchObject({ name: 'shanghai', region: 'ap-shanghai', credentials: { kind: 'keys', secretId: 'AKIDsh' }, instances: ['lhins-sh*', 'ins-sh*'] });
    expect(sh?.endpoints.cvm?.host).toBe('cvm.ap-shanghai.tencentcloudapi.com');
    expect(file?.credentials).toEqual({ kind: 'profile', path: accountFile });
    expect(role?.credentials).toMatchObject({ kind: 'role', roleName: 'ops-role' });
  });
});
