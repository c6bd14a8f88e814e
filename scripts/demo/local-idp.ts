// A stand-in for the company identity provider: a fresh key pair that signs JWTs, with the
// public half written where AUTH_PUBLIC_KEY_FILE can point. Used by `npm run demo` and tests.

import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { exportJWK, exportSPKI, generateKeyPair, SignJWT, type JWK, type CryptoKey } from 'jose';

export interface LocalIdp {
  issuer: string;
  audience: string;
  /** PEM file with the public key (for AUTH_PUBLIC_KEY_FILE). */
  publicKeyFile: string;
  publicJwk: JWK;
  privateKey: CryptoKey;
  kid: string;
  /** Signs a token for `sub` (default claims: email, groups, 1 h life). */
  sign(claims: { sub: string; email?: string; groups?: string[]; [claim: string]: unknown }, options?: { expiresInSeconds?: number }): Promise<string>;
}

export async function createLocalIdp(options: { issuer?: string; audience?: string; dir?: string } = {}): Promise<LocalIdp> {
  const issuer = options.issuer ?? 'https://idp.demo.invalid/';
  const audience = options.audience ?? 'vnc-gateway';
  const { privateKey, publicKey } = await generateKeyPair('ES256', { extractable: true });
  const kid = `local-${Date.now().toString(36)}`;
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), 'vnc-gateway-idp-'));
  const publicKeyFile = join(dir, 'idp-public.pem');
  writeFileSync(publicKeyFile, await exportSPKI(publicKey));
  const publicJwk = { ...(await exportJWK(publicKey)), kid, alg: 'ES256', use: 'sig' };
  return {
    issuer,
    audience,
    publicKeyFile,
    publicJwk,
    privateKey,
    kid,
    async sign(claims, signOptions = {}) {
      const { sub, ...rest } = claims;
      return new SignJWT(rest)
        .setProtectedHeader({ alg: 'ES256', kid })
        .setSubject(sub)
        .setIssuer(issuer)
        .setAudience(audience)
        .setIssuedAt()
        .setExpirationTime(`${signOptions.expiresInSeconds ?? 3600}s`)
        .sign(privateKey);
    },
  };
}
