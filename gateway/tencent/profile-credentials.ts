// Credentials from a Tencent Cloud profile file (INI, `[default]` with secret_id, secret_key
// and an optional token), as the official SDKs and tccli read it. The file is re-read when it
// changes (checked on every use), so rotating a key needs no restart.

import { readFile, stat } from 'node:fs/promises';
import type { CredentialProvider, TencentCredentials } from './credentials.js';

/** Parses the `[section]` of an INI profile; throws naming the missing key (never a value). */
export function parseProfile(text: string, section = 'default'): TencentCredentials {
  const values = new Map<string, string>();
  let current: string | undefined;
  for (const rawLine of text.split(/\r?\n/)) {
    const line = rawLine.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[\s*([^\]]+?)\s*\]$/.exec(line);
    if (header) {
      current = header[1];
      continue;
    }
    if (current !== section) continue;
    const eq = line.indexOf('=');
    if (eq <= 0) continue;
    values.set(line.slice(0, eq).trim().toLowerCase(), line.slice(eq + 1).trim());
  }
  const secretId = values.get('secret_id') ?? '';
  const secretKey = values.get('secret_key') ?? '';
  if (secretId === '' || secretKey === '') throw new Error(`profile section [${section}] needs secret_id and secret_key`);
  const token = values.get('token') ?? '';
  return token === '' ? { secretId, secretKey } : { secretId, secretKey, token };
}

export interface ProfileCredentialOptions {
  path: string;
  section?: string;
}

/**
 * A provider reading `path`. The file's identity (inode, size, mtime) is checked on every
 * call and the file re-parsed when it changed; an unreadable or incomplete file rejects
 * rather than silently keeping a key the operator meant to replace.
 */
export function createProfileCredentialProvider(options: ProfileCredentialOptions): CredentialProvider {
  let cached: { stamp: string; credentials: TencentCredentials } | undefined;
  return async function profileCredentials(): Promise<TencentCredentials> {
    const info = await stat(options.path);
    const stamp = `${info.ino}:${info.size}:${info.mtimeMs}:${info.ctimeMs}`;
    if (cached?.stamp === stamp) return cached.credentials;
    let credentials: TencentCredentials;
    try {
      credentials = Object.freeze(parseProfile(await readFile(options.path, 'utf8'), options.section));
    } catch (error) {
      cached = undefined;
      throw new Error(`Tencent Cloud profile ${options.path}: ${(error as Error).message}`, { cause: error });
    }
    cached = { stamp, credentials };
    return credentials;
  };
}
