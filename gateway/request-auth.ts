// Who is calling: finds the JWT (Bearer, the SSO proxy's header or cookie), checks the Origin
// for browser-borne credentials, and verifies the token. Shared by the ticket API and the
// WebSocket upgrade so both refuse exactly the same things.

import type { Identity } from '../auth/identity.js';
import type { JwtVerifier } from '../auth/jwt-verifier.js';
import { extractToken, type ExtractedToken, type TokenSourceOptions } from '../auth/token-sources.js';
import { normaliseOrigin, type CredentialSource } from '../auth/origin.js';
import { GatewayError } from './errors.js';

export type { CredentialSource };
export type OriginCheck = (origin: string | undefined, credential: CredentialSource) => boolean;

export interface RequestAuthenticatorOptions extends TokenSourceOptions {
  verifier: JwtVerifier;
  /** The ALLOWED_ORIGINS check; undefined = same origin as the request's Host only. */
  originAllowed: OriginCheck | undefined;
}

export interface RequestAuthenticator {
  /** The token and its source, without verifying it; undefined when none was sent. */
  findToken(getHeader: (name: string) => string | undefined): ExtractedToken | undefined;
  /** Throws origin_forbidden when a browser-borne credential comes from a foreign origin. */
  checkOrigin(origin: string | undefined, source: CredentialSource, host: string | undefined): void;
  /** Verifies a found token; throws auth_invalid. */
  verify(token: ExtractedToken): Promise<Identity>;
}

export function createRequestAuthenticator(options: RequestAuthenticatorOptions): RequestAuthenticator {
  const sources: TokenSourceOptions = {
    ...(options.tokenHeader ? { tokenHeader: options.tokenHeader } : {}),
    ...(options.tokenCookie ? { tokenCookie: options.tokenCookie } : {}),
  };
  return {
    findToken: (getHeader) => extractToken(getHeader, sources),
    checkOrigin(origin, source, host) {
      const allowed = options.originAllowed ?? sameHostCheck(host);
      if (!allowed(origin, source)) {
        throw new GatewayError('origin_forbidden', { cause: new Error(`origin ${origin ?? '(none)'} not allowed for ${source} credentials`) });
      }
    },
    verify: (token) => options.verifier.verify(token.token),
  };
}

/**
 * Without ALLOWED_ORIGINS or PUBLIC_URL, a browser request must come from a page served by
 * this very host: its Origin's host equals the Host it sent (a cross-site page cannot forge
 * either). The scheme is not compared: a TLS-terminating proxy makes it differ legitimately.
 */
function sameHostCheck(host: string | undefined): OriginCheck {
  return (origin, source) => {
    if (origin === undefined || origin === '') return source === 'bearer' || source === 'ticket';
    const normalised = normaliseOrigin(origin);
    return normalised !== undefined && host !== undefined && new URL(normalised).host === host.toLowerCase();
  };
}
