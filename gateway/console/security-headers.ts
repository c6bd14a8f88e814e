// Security headers for every gateway response: a strict CSP (no inline script or style, no
// framing, same-origin connections only) plus the usual anti-sniffing and no-referrer headers.

import type { MiddlewareHandler } from 'hono';

/**
 * The console's Content-Security-Policy. `connect-src 'self'` also covers the same-origin
 * `ws:`/`wss:` socket (CSP Level 3); `img-src data:` is for noVNC's cursor, which it renders
 * to a data URL; `frame-ancestors 'none'` because a framed console invites clickjacking of
 * keystrokes into a production machine.
 */
export const CONTENT_SECURITY_POLICY = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "connect-src 'self'",
  "font-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'none'",
].join('; ');

/** Header name → value, applied to every response that passes the middleware. */
export const SECURITY_HEADERS: Readonly<Record<string, string>> = Object.freeze({
  'Content-Security-Policy': CONTENT_SECURITY_POLICY,
  'Referrer-Policy': 'no-referrer',
  'X-Content-Type-Options': 'nosniff',
  // Older browsers ignore frame-ancestors; X-Frame-Options is their equivalent.
  'X-Frame-Options': 'DENY',
});

/**
 * Middleware setting {@link SECURITY_HEADERS} on the response. The headers are set after
 * `next()` so they also land on responses built by later handlers, `notFound` and `onError`.
 */
export function createSecurityHeaders(): MiddlewareHandler {
  return async function securityHeaders(c, next) {
    await next();
    for (const [name, value] of Object.entries(SECURITY_HEADERS)) {
      c.res.headers.set(name, value);
    }
  };
}
