// Decides, once at start, where an account's Tencent Cloud credentials come from, in the order
// of Tencent's SDKs: keys (the environment, or an account's own keys), then a profile file,
// then the CVM role of the metadata service. The answer names the source, never the secret.

import { access } from 'node:fs/promises';
import { createStaticCredentialProvider, type CredentialProvider } from './credentials.js';
import { createProfileCredentialProvider } from './profile-credentials.js';
import { createRoleCredentialProvider } from './role-credentials.js';

/** Where one account's credentials may come from. */
export type CredentialSourceSpec =
  | { kind: 'keys'; secretId: string; secretKey: string; token?: string }
  | { kind: 'profile'; path: string }
  | { kind: 'role'; metadataUrl: URL; roleName?: string }
  /** The default chain: keys if given, else the first profile file that exists, else the role. */
  | { kind: 'chain'; keys?: { secretId: string; secretKey: string; token?: string }; profilePaths: readonly string[]; metadataUrl: URL };

export interface ResolvedCredentials {
  provider: CredentialProvider;
  /** For the start-up log: `environment`, `profile /path`, `role NAME`. Never a secret. */
  source: string;
}

export interface ResolveOptions {
  fetch?: typeof fetch;
  now?: () => number;
  /** Metadata probe timeout at start (a host off Tencent Cloud answers slowly or never). */
  metadataTimeoutMs?: number;
}

/** Thrown when no source yields credentials; the message says what was tried. */
export class NoCredentialsError extends Error {
  override readonly name = 'NoCredentialsError';
}

export async function resolveCredentials(spec: CredentialSourceSpec, options: ResolveOptions = {}): Promise<ResolvedCredentials> {
  switch (spec.kind) {
    case 'keys':
      return { provider: createStaticCredentialProvider(keysOf(spec)), source: 'keys' };
    case 'profile': {
      const provider = createProfileCredentialProvider({ path: spec.path });
      await provider(); // an unreadable profile is a start-up error, not a first-session surprise
      return { provider, source: `profile ${spec.path}` };
    }
    case 'role':
      return resolveRole(spec.metadataUrl, spec.roleName, options);
    case 'chain': {
      if (spec.keys !== undefined) return { provider: createStaticCredentialProvider(keysOf(spec.keys)), source: 'environment' };
      for (const path of spec.profilePaths) {
        if (await exists(path)) return resolveCredentials({ kind: 'profile', path }, options);
      }
      try {
        return await resolveRole(spec.metadataUrl, undefined, options);
      } catch (error) {
        throw new NoCredentialsError(
          'No Tencent Cloud credentials found. Tried, in order: TENCENTCLOUD_SECRET_ID/TENCENTCLOUD_SECRET_KEY (unset); ' +
            `profile files ${spec.profilePaths.length > 0 ? spec.profilePaths.join(', ') : '(none)'} (none exists); ` +
            `the CVM role at ${spec.metadataUrl.href} (${(error as Error).message}).`,
          { cause: error },
        );
      }
    }
  }
}

async function resolveRole(metadataUrl: URL, roleName: string | undefined, options: ResolveOptions): Promise<ResolvedCredentials> {
  const provider = createRoleCredentialProvider({
    metadataUrl,
    ...(roleName === undefined ? {} : { roleName }),
    timeoutMs: options.metadataTimeoutMs ?? 2000,
    ...(options.fetch ? { fetch: options.fetch } : {}),
    ...(options.now ? { now: options.now } : {}),
  });
  await provider();
  return { provider, source: `role ${provider.roleName() ?? '?'}` };
}

function keysOf(keys: { secretId: string; secretKey: string; token?: string }): { secretId: string; secretKey: string; token?: string } {
  return { secretId: keys.secretId, secretKey: keys.secretKey, ...(keys.token ? { token: keys.token } : {}) };
}

async function exists(path: string): Promise<boolean> {
  try {
    await access(path);
    return true;
  } catch {
    return false;
  }
}
