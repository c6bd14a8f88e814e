// Decides whether a JWKS URL may be trusted to deliver signing keys: https, or plain http only
// to this machine. Shared by the configuration check and the verifier so both refuse the same.

import { isIP } from 'node:net';

/** The URL, or the reason it is refused (a sentence fragment that follows the variable's name). */
export type JwksUrlCheck = { url: URL; problem?: undefined } | { url?: undefined; problem: string };

/**
 * Whoever can answer the JWKS fetch chooses which tokens the gateway accepts, so the keys must
 * come over TLS. Plain http is allowed only to a loopback host (127.0.0.0/8, ::1, localhost:
 * a sidecar or a test IdP), where no one else is on the path. The URL is never echoed back,
 * since it may carry a query secret.
 */
export function checkJwksUrl(value: string): JwksUrlCheck {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return { problem: 'is not a URL' };
  }
  if (url.username !== '' || url.password !== '') return { problem: 'must not contain credentials' };
  if (url.protocol === 'https:') return { url };
  if (url.protocol === 'http:' && isLoopbackHost(url.hostname)) return { url };
  if (url.protocol === 'http:') {
    return { problem: 'must be https (plain http only to a loopback host: 127.0.0.0/8, ::1, localhost): anyone on the path could substitute the signing keys' };
  }
  return { problem: 'must be an https URL' };
}

/** `hostname` as URL spells it: lowercase, IPv4 normalised (`127.1` → `127.0.0.1`), IPv6 in brackets. */
function isLoopbackHost(hostname: string): boolean {
  if (hostname === 'localhost') return true;
  if (hostname === '[::1]') return true;
  return isIP(hostname) === 4 && hostname.startsWith('127.');
}
