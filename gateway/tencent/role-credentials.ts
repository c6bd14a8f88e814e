// CVM role credentials from the instance metadata service: the role name from
// `cam/security-credentials/`, then `cam/security-credentials/<role>` with TmpSecretId,
// TmpSecretKey, Token and ExpiredTime. Refreshed well before they expire; concurrent callers
// share one refresh.

import type { CredentialProvider, TencentCredentials } from './credentials.js';

/** Where Tencent's SDKs find the metadata service. */
export const DEFAULT_METADATA_URL = 'http://metadata.tencentyun.com/latest/meta-data/';

export interface RoleCredentialOptions {
  /** Base URL ending in `/latest/meta-data/`. */
  metadataUrl: URL;
  /** A fixed role name; otherwise the first one the metadata service lists. */
  roleName?: string;
  /** Per-request timeout. Default 2000 ms. */
  timeoutMs?: number;
  /**
   * Refresh when less than this remains. Default: 5 minutes, or half the credentials' life
   * when that is shorter, so short-lived keys are also replaced long before they lapse.
   */
  refreshMarginMs?: number;
  now?: () => number;
  fetch?: typeof fetch;
}

interface Held {
  credentials: TencentCredentials;
  expiresAtMs: number;
  refreshAtMs: number;
}

const FIVE_MINUTES_MS = 5 * 60_000;

export interface RoleCredentialProvider extends CredentialProvider {
  /** The role name in use (known after the first successful fetch). */
  readonly roleName: () => string | undefined;
}

export function createRoleCredentialProvider(options: RoleCredentialOptions): RoleCredentialProvider {
  const now = options.now ?? Date.now;
  const doFetch = options.fetch ?? fetch;
  const timeoutMs = options.timeoutMs ?? 2000;
  const base = new URL('cam/security-credentials/', options.metadataUrl.href.endsWith('/') ? options.metadataUrl : `${options.metadataUrl.href}/`);
  let roleName = options.roleName;
  let held: Held | undefined;
  let refreshing: Promise<Held> | undefined;

  const get = async (url: URL): Promise<string> => {
    // The metadata service is link-local plain HTTP; no redirects, a short deadline.
    const res = await doFetch(url, { redirect: 'manual', signal: AbortSignal.timeout(timeoutMs) });
    const text = await res.text();
    if (res.status !== 200) throw new Error(`metadata service answered HTTP ${res.status} for ${url.pathname}`);
    return text;
  };

  const refresh = async (): Promise<Held> => {
    if (roleName === undefined) {
      const listed = (await get(base)).split(/\r?\n/).map((s) => s.trim()).filter((s) => s !== '');
      if (listed[0] === undefined) throw new Error('the metadata service lists no CAM role for this instance');
      roleName = listed[0];
    }
    if (!/^[\w+=,.@-]{1,128}$/.test(roleName)) throw new Error('the metadata service returned an invalid role name');
    const body = JSON.parse(await get(new URL(encodeURIComponent(roleName), base))) as Record<string, unknown>;
    const { TmpSecretId, TmpSecretKey, Token, ExpiredTime } = body;
    if (typeof TmpSecretId !== 'string' || typeof TmpSecretKey !== 'string' || typeof Token !== 'string' || typeof ExpiredTime !== 'number' || TmpSecretId === '' || TmpSecretKey === '') {
      throw new Error(`role ${roleName}: the metadata service answered without TmpSecretId, TmpSecretKey, Token and ExpiredTime`);
    }
    const fetchedAt = now();
    const expiresAtMs = ExpiredTime * 1000;
    const lifeMs = expiresAtMs - fetchedAt;
    if (lifeMs <= 0) throw new Error(`role ${roleName}: the metadata service handed out credentials that already expired`);
    const marginMs = options.refreshMarginMs ?? Math.min(FIVE_MINUTES_MS, lifeMs / 2);
    return {
      credentials: Object.freeze({ secretId: TmpSecretId, secretKey: TmpSecretKey, token: Token }),
      expiresAtMs,
      refreshAtMs: expiresAtMs - marginMs,
    };
  };

  const provider = async function roleCredentials(): Promise<TencentCredentials> {
    const t = now();
    if (held !== undefined && t < held.refreshAtMs) return held.credentials;
    refreshing ??= refresh().finally(() => (refreshing = undefined));
    try {
      held = await refreshing;
    } catch (error) {
      // A metadata hiccup while the current key is still valid must not cost a session.
      if (held !== undefined && now() < held.expiresAtMs - 5000) return held.credentials;
      throw error;
    }
    return held.credentials;
  } as RoleCredentialProvider;
  Object.defineProperty(provider, 'roleName', { value: () => roleName });
  return provider;
}
