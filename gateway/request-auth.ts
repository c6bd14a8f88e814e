// Who is calling: finds the JWT (Bearer, the SSO proxy's header or cookie), checks the Origin
// for browser-borne credentials, and verifies the token. Shared by the ticket API and the
// WebSocket upgrade so both refuse exactly the same things.

import type { Identity } from '../auth/identity.js';
import type { JwtVerifier } from '../auth/jwt-verifier.js';
import { extractToken, type ExtractedToken, type TokenSourceOptions } from '../auth/token-sources.js';
import { normaliseOrigin, type CredentialSource } from '../auth/origin.js';
import type { TrustProxy } from './client-ip.js';
import { GatewayError } from './errors.js';
import { createRequestSchemeResolver, type RequestScheme, type RequestTransport } from './request-scheme.js';

export type { CredentialSource, RequestTransport };
export type OriginCheck = (origin: string | undefined, credential: CredentialSource) => boolean;

export interface RequestAuthenticatorOptions extends TokenSourceOptions {
  verifier: JwtVerifier;
  /** The ALLOWED_ORIGINS check; undefined = same origin as the request's Host only. */
  originAllowed: OriginCheck | undefined;
  /** Whose X-Forwarded-Proto is believed, for the same-host fallback's scheme. Default: nobody's. */
  trustProxy?: TrustProxy;
}

export interface RequestAuthenticator {
  /** The token and its source, without verifying it; undefined when none was sent. */
  findToken(getHeader: (name: string) => string | undefined): ExtractedToken | undefined;
  /**
   * Throws origin_forbidden when a browser-borne credential comes from a foreign origin.
   * `transport` gives the request's scheme to the same-host fallback, when it is knowable.
   */
  checkOrigin(origin: string | undefined, source: CredentialSource, host: string | undefined, transport?: RequestTransport): void;
  /** Verifies a found token; throws auth_invalid. */
  verify(token: ExtractedToken): Promise<Identity>;
}

export function createRequestAuthenticator(options: RequestAuthenticatorOptions): RequestAuthenticator {
  const sources: TokenSourceOptions = {
    ...(options.tokenHeader ? { tokenHeader: options.tokenHeader } : {}),
    ...(options.tokenCookie ? { tokenCookie: options.tokenCookie } : {}),
  };
  const schemeOf = createRequestSchemeResolver(options.trustProxy ?? { hops: 0, cidrs: [] });
  return {
    findToken: (getHeader) => extractToken(getHeader, sources),
    checkOrigin(origin, source, host, transport) {
      const allowed = options.originAllowed ?? sameHostCheck(host, transport === undefined ? undefined : schemeOf(transport));
      if (!allowed(origin, source)) {
        throw new GatewayError('origin_forbidden', { cause: new Error(`origin ${origin ?? '(none)'} not allowed for ${source} credentials`) });
      }
    },
    verify: (token) => options.verifier.verify(token.token),
  };
}

/**
 * Without ALLOWED_ORIGINS or PUBLIC_URL (a trial; logged as a warning at start), a browser
 * request must come from a page served by this very host: its Origin's host equals the Host it
 * sent (a cross-site page cannot forge either). The scheme is compared only when it is known
 * (a TLS socket, or X-Forwarded-Proto from a TRUST_PROXY hop): a TLS-terminating proxy nobody
 * declared makes it differ legitimately. Unknown, an `http://` page on the same host — one a
 * network attacker can inject into — passes; PUBLIC_URL or ALLOWED_ORIGINS closes that.
 */
function sameHostCheck(host: string | undefined, scheme: RequestScheme | undefined): OriginCheck {
  return (origin, source) => {
    if (origin === undefined || origin === '') return source === 'bearer' || source === 'ticket';
    const normalised = normaliseOrigin(origin);
    if (normalised === undefined || host === undefined) return false;
    const url = new URL(normalised);
    return url.host === host.toLowerCase() && (scheme === undefined || url.protocol === `${scheme}:`);
  };
}
