// Finds the caller's JWT in a request: the Authorization header, then the header or cookie
// an SSO proxy was configured to use. Framework-free: it only reads headers by name.

/** Where a token was found; the Origin check treats browser-borne sources more strictly. */
export type TokenSource = 'bearer' | 'header' | 'cookie';

/** A token and where it came from. */
export interface ExtractedToken {
  token: string;
  source: TokenSource;
}

/** The extra places, beyond `Authorization: Bearer`, an SSO proxy may put the JWT. */
export interface TokenSourceOptions {
  /** Header name, e.g. `Cf-Access-Jwt-Assertion` (Cloudflare Access). */
  tokenHeader?: string;
  /** Cookie name, e.g. `CF_Authorization`. */
  tokenCookie?: string;
}

// RFC 7235: the auth scheme is case-insensitive; RFC 6750 §2.1: `Bearer 1*SP b64token`.
const BEARER = /^bearer[ \t]+(\S+)[ \t]*$/i;

/**
 * Returns the first token found, in this order: `Authorization: Bearer` (any case of the
 * scheme), the configured header, the configured cookie. A present-but-empty value counts as
 * absent, so an SSO proxy sending an empty header does not hide a real bearer token or cookie.
 * `getHeader` is looked up with lowercase names (HTTP header names are case-insensitive).
 */
export function extractToken(
  getHeader: (name: string) => string | undefined,
  options: TokenSourceOptions = {},
): ExtractedToken | undefined {
  const authorization = getHeader('authorization');
  if (authorization !== undefined) {
    const token = BEARER.exec(authorization.trim())?.[1];
    if (token !== undefined) return { token, source: 'bearer' };
  }
  if (options.tokenHeader !== undefined && options.tokenHeader !== '') {
    const raw = getHeader(options.tokenHeader.toLowerCase())?.trim();
    // Some proxies forward the value with a `Bearer ` prefix; a JWT never contains a space.
    const token = raw === undefined ? undefined : (BEARER.exec(raw)?.[1] ?? raw);
    if (token !== undefined && token !== '') return { token, source: 'header' };
  }
  if (options.tokenCookie !== undefined && options.tokenCookie !== '') {
    const token = parseCookies(getHeader('cookie')).get(options.tokenCookie);
    if (token !== undefined && token !== '') return { token, source: 'cookie' };
  }
  return undefined;
}

/**
 * Parses a `Cookie` request header (RFC 6265 §5.4: `name=value` pairs separated by `;`)
 * into a map. Names match exactly (a name that is a prefix of another never matches it);
 * surrounding spaces are dropped, one pair of double quotes around a value is removed, and
 * percent-encoding is decoded when valid. When a name repeats, the first wins: browsers send
 * the most specific path first. Pairs without `=` are ignored. A Map, so a cookie named
 * `__proto__` is just a name.
 */
export function parseCookies(header: string | undefined): Map<string, string> {
  const cookies = new Map<string, string>();
  if (header === undefined || header === '') return cookies;
  for (const pair of header.split(';')) {
    const eq = pair.indexOf('=');
    if (eq === -1) continue;
    const name = pair.slice(0, eq).trim();
    if (name === '' || cookies.has(name)) continue;
    let value = pair.slice(eq + 1).trim();
    if (value.length >= 2 && value.startsWith('"') && value.endsWith('"')) value = value.slice(1, -1);
    cookies.set(name, decodeCookieValue(value));
  }
  return cookies;
}

function decodeCookieValue(value: string): string {
  if (!value.includes('%')) return value;
  try {
    return decodeURIComponent(value);
  } catch {
    // Malformed escapes: keep the raw bytes rather than dropping the cookie.
    return value;
  }
}
