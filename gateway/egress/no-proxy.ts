// NO_PROXY matching as curl and most tools read it: `*`, host names (a name also covers its
// subdomains; a leading dot is optional), IP literals, and any of these with `:port`.

/** Returns whether a request to `url` must bypass the proxy under this NO_PROXY list. */
export function createNoProxyMatcher(noProxy: string): (url: URL) => boolean {
  const entries = noProxy
    .split(/[\s,]+/)
    .map((entry) => entry.trim().toLowerCase())
    .filter((entry) => entry !== '')
    .map((entry) => {
      if (entry === '*') return { host: '*', port: undefined };
      // [v6]:port, host:port, bare v6 literal, bare host.
      const bracketed = /^\[([^\]]+)\](?::(\d+))?$/.exec(entry);
      if (bracketed) return { host: bracketed[1] ?? '', port: bracketed[2] };
      const hostPort = /^([^:]+):(\d+)$/.exec(entry);
      if (hostPort) return { host: hostPort[1] ?? '', port: hostPort[2] };
      return { host: entry, port: undefined };
    })
    .map(({ host, port }) => ({ host: host.replace(/^\*?\./, ''), port }));
  return function bypassesProxy(url: URL): boolean {
    const host = url.hostname.toLowerCase().replace(/^\[|\]$/g, '');
    const port = url.port || (url.protocol === 'https:' || url.protocol === 'wss:' ? '443' : '80');
    return entries.some((entry) => {
      if (entry.host === '*') return true;
      if (entry.port !== undefined && entry.port !== port) return false;
      return host === entry.host || host.endsWith(`.${entry.host}`);
    });
  };
}
