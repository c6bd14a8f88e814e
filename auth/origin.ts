// Decides whether a request's Origin may use the credential it presents: the defence against
// cross-site WebSocket hijacking and CSRF for browser-borne credentials.

/** How a request authenticated; see `createOriginCheck` for how each is treated. */
export type CredentialSource = 'bearer' | 'header' | 'cookie' | 'ticket';

/** `(origin, credential) => allowed`; `origin` is the raw Origin header, if any. */
export type OriginCheck = (origin: string | undefined, credential: CredentialSource) => boolean;

/**
 * Normalises an origin to `scheme://host[:port]`: lowercase, default ports dropped, IDNs in
 * punycode (as browsers send them). Returns undefined for `null`, non-http(s) schemes, or
 * anything with a path, query, fragment or credentials — no browser sends those as an Origin.
 */
export function normaliseOrigin(origin: string): string | undefined {
  const text = origin.trim();
  if (text === '' || text.toLowerCase() === 'null') return undefined;
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    return undefined;
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') return undefined;
  if (url.username !== '' || url.password !== '' || url.search !== '' || url.hash !== '') return undefined;
  if (url.pathname !== '/') return undefined;
  // URL.origin lowercases scheme and host and omits the scheme's default port.
  return url.origin;
}

/**
 * Creates the Origin check for ALLOWED_ORIGINS; throws when an entry is not an http(s)
 * origin (a path, `*` or `null` there is a configuration mistake). The rules:
 *
 * - `cookie`: the browser attaches the cookie to any site's request, and a WebSocket is not
 *   covered by CORS, so only an allowed Origin proves the request came from our own page.
 *   Missing or foreign Origin: refused.
 * - `header`: the token was injected by an SSO proxy in front of browsers (Cloudflare Access,
 *   IAP, oauth2-proxy). Such a proxy adds the header to every request the browser sends
 *   through it, cross-site ones too, so it is as ambient as a cookie: treated the same.
 * - `bearer` and `ticket`: a page on another site cannot make the browser attach these, so a
 *   request without Origin is a CLI or API client and is allowed. A request that does carry an
 *   Origin comes from a browser page, and that page must be one of ours.
 *
 * The `null` Origin (sandboxed frames, file: pages, some redirects) is never allowed.
 */
export function createOriginCheck(allowedOrigins: readonly string[]): OriginCheck {
  const problems: string[] = [];
  const allowed = new Set<string>();
  for (const entry of allowedOrigins) {
    const normalised = typeof entry === 'string' ? normaliseOrigin(entry.replace(/\/$/, '')) : undefined;
    if (normalised === undefined) problems.push(`${JSON.stringify(entry)} is not an origin like https://console.example.com`);
    else allowed.add(normalised);
  }
  if (problems.length > 0) throw new Error(`Invalid ALLOWED_ORIGINS:\n  - ${problems.join('\n  - ')}`);

  return function isOriginAllowed(origin: string | undefined, credential: CredentialSource): boolean {
    if (origin === undefined || origin === '') return credential === 'bearer' || credential === 'ticket';
    const normalised = normaliseOrigin(origin);
    return normalised !== undefined && allowed.has(normalised);
  };
}
