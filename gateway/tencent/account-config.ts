// The `accounts:` list of the GATEWAY_CONFIG file: several Tencent Cloud accounts, each with
// its credential source, default region, endpoints and the instance ids/globs it owns.
// Validated with every problem reported; keys are the variable names used at the top level.

import type { CredentialSourceSpec } from './credential-chain.js';
import { isRegionName } from './regions.js';

/** One configured account besides the default one (the top-level TENCENTCLOUD_* settings). */
export interface AccountConfig {
  name: string;
  credentials: Exclude<CredentialSourceSpec, { kind: 'chain' }>;
  /** Default region of this account's calls; unset = TENCENTCLOUD_REGION. */
  region: string | undefined;
  endpoints: { lighthouse: URL | undefined; cvm: URL | undefined };
  /** Instance ids or globs served by this account; the first account that matches wins. */
  instances: readonly string[];
  /**
   * The Tencent Cloud account id (UIN) the entry's keys belong to. Tencent counts API calls
   * per account, so entries naming the same UIN share one budget; without it, each entry has
   * its own (and must then be a distinct Tencent account).
   */
  uin?: string;
}

const KEYS = new Set([
  'name', 'instances', 'role', 'uin',
  'TENCENTCLOUD_SECRET_ID', 'TENCENTCLOUD_SECRET_KEY', 'TENCENTCLOUD_SESSION_TOKEN', 'TENCENTCLOUD_CREDENTIALS_FILE',
  'TENCENTCLOUD_REGION', 'TENCENTCLOUD_LIGHTHOUSE_ENDPOINT', 'TENCENTCLOUD_CVM_ENDPOINT',
]);
const NAME = /^[a-z0-9][a-z0-9_-]{0,31}$/;

/**
 * Parses the YAML value of `accounts`. `metadataUrl` is where `role` accounts fetch their
 * keys; `isReadableFile` checks a named profile file. Problems are pushed onto `problems`; the
 * accounts that parsed cleanly are returned.
 */
export function parseAccounts(value: unknown, metadataUrl: URL, problems: string[], isReadableFile: (path: string) => boolean = () => true): AccountConfig[] {
  const where = 'GATEWAY_CONFIG accounts';
  if (!Array.isArray(value)) {
    problems.push(`${where}: must be a list of accounts`);
    return [];
  }
  const accounts: AccountConfig[] = [];
  const names = new Set<string>();
  value.forEach((entry: unknown, index) => {
    if (typeof entry !== 'object' || entry === null || Array.isArray(entry)) {
      problems.push(`${where}[${index}]: must be a mapping`);
      return;
    }
    const raw = entry as Record<string, unknown>;
    const before = problems.length;
    const label = typeof raw.name === 'string' ? `${where} "${raw.name}"` : `${where}[${index}]`;
    for (const key of Object.keys(raw)) if (!KEYS.has(key)) problems.push(`${label}: unknown key ${key}`);
    const str = (key: string): string | undefined => {
      const v = raw[key];
      if (v === undefined || v === null) return undefined;
      if (typeof v !== 'string' || v.trim() === '') {
        problems.push(`${label}: ${key} must be a non-empty string`);
        return undefined;
      }
      return v.trim();
    };
    const name = str('name');
    if (name === undefined) problems.push(`${label}: name is required`);
    else if (!NAME.test(name) || name === 'default') problems.push(`${label}: name must be lower-case letters, digits, - or _ (at most 32), and not "default"`);
    else if (names.has(name)) problems.push(`${label}: the name is used twice`);
    else names.add(name);

    const instances = raw.instances;
    if (!Array.isArray(instances) || instances.length === 0 || !instances.every((g) => typeof g === 'string' && /^[a-z0-9*?-]+$/.test(g))) {
      problems.push(`${label}: instances must be a non-empty list of instance ids or globs (lhins-sh*, ins-abc*)`);
    }

    const secretId = str('TENCENTCLOUD_SECRET_ID');
    const secretKey = str('TENCENTCLOUD_SECRET_KEY');
    const token = str('TENCENTCLOUD_SESSION_TOKEN');
    const file = str('TENCENTCLOUD_CREDENTIALS_FILE');
    const role = raw.role;
    if (role !== undefined && role !== true && (typeof role !== 'string' || !/^[\w+=,.@-]{1,128}$/.test(role))) {
      problems.push(`${label}: role must be true (the instance's CAM role) or a role name`);
    }
    const hasKeys = secretId !== undefined || secretKey !== undefined;
    const sources = [hasKeys, file !== undefined, role !== undefined && role !== false].filter(Boolean).length;
    if (sources !== 1) {
      problems.push(`${label}: give exactly one credential source: TENCENTCLOUD_SECRET_ID with TENCENTCLOUD_SECRET_KEY, TENCENTCLOUD_CREDENTIALS_FILE, or role`);
    } else if (hasKeys && (secretId === undefined || secretKey === undefined)) {
      problems.push(`${label}: TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY go together`);
    }
    if (token !== undefined && !hasKeys) problems.push(`${label}: TENCENTCLOUD_SESSION_TOKEN only goes with TENCENTCLOUD_SECRET_ID and TENCENTCLOUD_SECRET_KEY`);
    if (sources === 1 && file !== undefined && !isReadableFile(file)) problems.push(`${label}: TENCENTCLOUD_CREDENTIALS_FILE ${file} is not a readable file`);

    // YAML reads an unquoted UIN as a number; UINs stay well inside 2^53.
    const rawUin = raw.uin;
    const uin = typeof rawUin === 'number' && Number.isSafeInteger(rawUin) ? String(rawUin) : rawUin;
    if (uin !== undefined && uin !== null && (typeof uin !== 'string' || !/^\d{5,20}$/.test(uin))) {
      problems.push(`${label}: uin must be the Tencent Cloud account id (digits, as in the console's Account Info)`);
    }

    const region = str('TENCENTCLOUD_REGION');
    if (region !== undefined && !isRegionName(region)) problems.push(`${label}: TENCENTCLOUD_REGION "${region}" is not a region name like ap-guangzhou`);
    const endpoint = (key: string): URL | undefined => {
      const v = str(key);
      if (v === undefined) return undefined;
      try {
        const url = new URL(v);
        if (url.protocol !== 'https:' && url.protocol !== 'http:') throw new Error('scheme must be https: or http:');
        if (url.username || url.password) throw new Error('credentials in the URL are not allowed');
        return url;
      } catch (error) {
        problems.push(`${label}: ${key} must be a URL (${(error as Error).message})`);
        return undefined;
      }
    };
    const lighthouse = endpoint('TENCENTCLOUD_LIGHTHOUSE_ENDPOINT');
    const cvm = endpoint('TENCENTCLOUD_CVM_ENDPOINT');
    if (problems.length > before || name === undefined) return;

    const credentials: AccountConfig['credentials'] =
      file !== undefined
        ? { kind: 'profile', path: file }
        : hasKeys
          ? { kind: 'keys', secretId: secretId ?? '', secretKey: secretKey ?? '', ...(token ? { token } : {}) }
          : { kind: 'role', metadataUrl, ...(typeof role === 'string' ? { roleName: role } : {}) };
    accounts.push({ name, credentials, region, endpoints: { lighthouse, cvm }, instances: [...(instances as string[])], ...(typeof uin === 'string' ? { uin } : {}) });
  });
  return accounts;
}
