// The scheme the browser used to reach the gateway, when it can be known: a TLS socket, or
// X-Forwarded-Proto written by a proxy TRUST_PROXY believes. Otherwise unknown: a plain socket
// may sit behind a TLS-terminating proxy nobody declared.

import { createTrustedPeerCheck, type TrustProxy } from './client-ip.js';

/** What the scheme is read from: the connection, and the forwarded header as sent. */
export interface RequestTransport {
  /** The Node socket (a TLSSocket has `encrypted: true`). */
  socket: { encrypted?: boolean; remoteAddress?: string | undefined };
  /** X-Forwarded-Proto, if any. */
  forwardedProto?: string | undefined;
}

export type RequestScheme = 'http' | 'https';

/** `(transport) => 'http' | 'https' | undefined` (undefined = not knowable). */
export type RequestSchemeResolver = (transport: RequestTransport) => RequestScheme | undefined;

export function createRequestSchemeResolver(trust: TrustProxy): RequestSchemeResolver {
  const isTrustedPeer = createTrustedPeerCheck(trust);
  return (transport) => {
    const { socket, forwardedProto } = transport;
    // A trusted proxy's word comes first: it saw the browser's connection, we only see its own.
    if (forwardedProto !== undefined && isTrustedPeer(socket.remoteAddress)) return forwardedScheme(forwardedProto);
    if (socket.encrypted === true) return 'https';
    return undefined;
  };
}

/**
 * X-Forwarded-Proto as one scheme. Several hops may each append theirs; when they disagree (or
 * name something odd) which one the browser used cannot be told, so the answer is unknown.
 */
function forwardedScheme(header: string): RequestScheme | undefined {
  const schemes = new Set(header.split(',').map((entry) => entry.trim().toLowerCase()));
  if (schemes.size !== 1) return undefined;
  const [scheme] = schemes;
  return scheme === 'http' || scheme === 'https' ? scheme : undefined;
}
