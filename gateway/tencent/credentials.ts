// Tencent Cloud API credentials and the provider shape every source implements: fixed keys
// (here), a profile file (profile-credentials.ts), CVM role credentials (role-credentials.ts);
// credential-chain.ts picks the source.

export interface TencentCredentials {
  secretId: string;
  secretKey: string;
  /** Token of temporary credentials, sent as X-TC-Token. */
  token?: string;
}

/** Returns the credentials to sign the next request with (providers may rotate them). */
export type CredentialProvider = () => Promise<TencentCredentials>;

/** A provider for fixed credentials, such as those from the environment. */
export function createStaticCredentialProvider(credentials: TencentCredentials): CredentialProvider {
  if (credentials.secretId === '' || credentials.secretKey === '') {
    throw new Error('Tencent Cloud credentials need both a secret id and a secret key');
  }
  const frozen = Object.freeze({ ...credentials });
  return async () => frozen;
}
