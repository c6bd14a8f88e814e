// The Tencent Cloud accounts the gateway calls with: for each, its credentials (resolved once
// at start, the source logged without the secret), its client, its default region and its own
// fleet API budget, since Tencent counts the 10 requests per second per account.

import { compileGlob } from '../../auth/glob.js';
import type { GatewayConfig } from '../config.js';
import { createApiBudget, type ApiBudget } from '../limits/api-budget.js';
import type { SlidingWindowLimiter } from '../limits/limiter.js';
import type { Logger } from '../logger.js';
import type { AccountConfig } from './account-config.js';
import { createTencentClient, type TencentClient } from './client.js';
import { resolveCredentials, type CredentialSourceSpec, type ResolveOptions } from './credential-chain.js';
import type { HttpTransport } from './http-transport.js';

/** One account, ready to call. */
export interface TencentAccount {
  /** `default` for the top-level TENCENTCLOUD_* settings. */
  name: string;
  client: TencentClient;
  budget: ApiBudget;
  region: string;
  /** Where the credentials come from, for logs (never the secret). */
  credentialSource: string;
}

/** Finds the account an instance belongs to. */
export interface AccountRouter {
  accountFor(instanceId: string): TencentAccount | undefined;
  readonly accounts: readonly TencentAccount[];
  /** The default account, else the first configured one (for calls not about one instance). */
  readonly primary: TencentAccount;
}

export interface TencentAccountsOptions {
  /** The top-level account's credential chain. */
  defaultSource: CredentialSourceSpec;
  /** Whether a default account is required (no `accounts:` list: it serves every instance). */
  defaultRequired: boolean;
  defaultRegion: string;
  endpoints: { lighthouse: URL; cvm: URL };
  accounts: readonly AccountConfig[];
  apiTimeoutMs: number;
  transport: HttpTransport;
  limiter: SlidingWindowLimiter;
  requestsPerSecond: number;
  logger: Logger;
  resolve?: ResolveOptions;
  /** Wraps each account's client (metrics). */
  wrapClient?: (client: TencentClient) => TencentClient;
}

/** The parts of the gateway configuration createTencentAccounts needs. */
export function tencentAccountOptions(config: GatewayConfig): Pick<
  TencentAccountsOptions,
  'defaultSource' | 'defaultRequired' | 'defaultRegion' | 'endpoints' | 'accounts' | 'apiTimeoutMs' | 'requestsPerSecond'
> {
  const t = config.tencent;
  return {
    defaultSource: {
      kind: 'chain',
      ...(t.secretId !== undefined && t.secretKey !== undefined
        ? { keys: { secretId: t.secretId, secretKey: t.secretKey, ...(t.sessionToken ? { token: t.sessionToken } : {}) } }
        : {}),
      profilePaths: t.profilePaths,
      metadataUrl: t.metadataUrl,
    },
    defaultRequired: t.accounts.length === 0,
    defaultRegion: t.region,
    endpoints: { lighthouse: t.lighthouseEndpoint, cvm: t.cvmEndpoint },
    accounts: t.accounts,
    apiTimeoutMs: t.apiTimeoutMs,
    requestsPerSecond: config.apiRequestsPerSecond,
  };
}

/**
 * The fleet budget's key. Tencent counts per account, so entries naming the same UIN share one
 * key (names cannot hold a colon, so the two forms never collide). The default account keeps
 * the key it always had, so a rolling upgrade shares one count.
 */
export function apiBudgetKey(accountName: string, uin?: string): string {
  if (uin !== undefined) return `api-calls:uin:${uin}`;
  return accountName === 'default' ? 'api-calls' : `api-calls:${accountName}`;
}

/** Resolves every account's credentials; throws (a start-up error) when one cannot be resolved. */
export async function createTencentAccounts(options: TencentAccountsOptions): Promise<AccountRouter> {
  const build = (name: string, credentials: Awaited<ReturnType<typeof resolveCredentials>>, region: string, endpoints: { lighthouse: URL; cvm: URL }, uin?: string): TencentAccount => {
    options.logger.info({ account: name, credentialSource: credentials.source, region }, 'Tencent Cloud credentials');
    const client = createTencentClient({ credentials: credentials.provider, transport: options.transport, region, endpoints, timeoutMs: options.apiTimeoutMs });
    return {
      name,
      region,
      credentialSource: credentials.source,
      client: options.wrapClient ? options.wrapClient(client) : client,
      budget: createApiBudget({ limiter: options.limiter, requestsPerSecond: options.requestsPerSecond, key: apiBudgetKey(name, uin) }),
    };
  };

  const named: { account: TencentAccount; matches: (id: string) => boolean }[] = [];
  for (const config of options.accounts) {
    let credentials;
    try {
      credentials = await resolveCredentials(config.credentials, options.resolve);
    } catch (error) {
      throw new Error(`Tencent Cloud account "${config.name}": ${(error as Error).message}`, { cause: error });
    }
    const matchers = config.instances.map((glob) => compileGlob(glob));
    named.push({
      account: build(config.name, credentials, config.region ?? options.defaultRegion, {
        lighthouse: config.endpoints.lighthouse ?? options.endpoints.lighthouse,
        cvm: config.endpoints.cvm ?? options.endpoints.cvm,
      }, config.uin),
      matches: (id) => matchers.some((m) => m(id)),
    });
  }

  let fallback: TencentAccount | undefined;
  try {
    fallback = build('default', await resolveCredentials(options.defaultSource, options.resolve), options.defaultRegion, options.endpoints);
  } catch (error) {
    if (options.defaultRequired) throw error;
    options.logger.info({ reason: (error as Error).message }, 'no default Tencent Cloud account: instances outside the configured accounts are refused');
  }

  const primary = fallback ?? named[0]?.account;
  if (primary === undefined) throw new Error('no Tencent Cloud account is configured');
  return {
    primary,
    accounts: [...named.map((n) => n.account), ...(fallback ? [fallback] : [])],
    accountFor(instanceId) {
      return named.find((n) => n.matches(instanceId))?.account ?? fallback;
    },
  };
}
