// Egress policy: which agent an outbound https/wss connection uses. With HTTPS_PROXY set, every
// TLS destination not matched by NO_PROXY goes through a CONNECT tunnel; otherwise direct.
// Plain http/ws destinations (local simulators) always go direct.

import { Agent } from 'node:https';
import { ConnectTunnelAgent } from './connect-tunnel-agent.js';
import { createNoProxyMatcher } from './no-proxy.js';

export interface EgressOptions {
  httpsProxy: URL | undefined;
  noProxy: string;
  onTunnel?: (authority: string) => void;
}

export interface Egress {
  /** The agent for Tencent API calls to `url` (kept alive), or undefined for the default. */
  apiAgent(url: URL): Agent | undefined;
  /** The agent for one upstream WebSocket to `url` (a tunnel, or direct with TLS session reuse). */
  upstreamAgent(url: URL): Agent | undefined;
}

export function createEgress(options: EgressOptions): Egress {
  const proxy = options.httpsProxy;
  // Direct upstream sockets share an agent only for its TLS session cache: a resumed handshake
  // saves a round of public-key work on every console opened to the same host. No pooling.
  const direct = new Agent({ keepAlive: false, maxCachedSessions: 256 });
  if (proxy === undefined) return { apiAgent: () => undefined, upstreamAgent: () => direct };
  const bypass = createNoProxyMatcher(options.noProxy);
  const tls = (url: URL): boolean => url.protocol === 'https:' || url.protocol === 'wss:';
  const tunnel = (keepAlive: boolean): ConnectTunnelAgent =>
    new ConnectTunnelAgent({ proxy, keepAlive, ...(options.onTunnel ? { onTunnel: options.onTunnel } : {}) });
  // API calls reuse their tunnel (one TLS handshake for many calls); each upstream socket is its own.
  const api = tunnel(true);
  const upstream = tunnel(false);
  return {
    apiAgent: (url) => (tls(url) && !bypass(url) ? api : undefined),
    upstreamAgent: (url) => (tls(url) && !bypass(url) ? upstream : tls(url) ? direct : undefined),
  };
}
