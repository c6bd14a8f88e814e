// The client's IP address for audit records and per-IP counting: the socket's peer, or the
// X-Forwarded-For entry added by the last trusted proxy (TRUST_PROXY). Never believed otherwise.

import { BlockList, isIP } from 'node:net';

export interface TrustProxy {
  /** Believe this many proxies in front of the gateway (the rightmost entries of X-Forwarded-For). */
  hops: number;
  /** Believe X-Forwarded-For entries appended by proxies at these addresses. */
  cidrs: readonly string[];
}

export type ClientIpResolver = (peer: string | undefined, forwardedFor: string | undefined) => string;

function unmapped(address: string): string {
  return address.startsWith('::ffff:') && isIP(address.slice(7)) === 4 ? address.slice(7) : address;
}

export function createClientIpResolver(trust: TrustProxy): ClientIpResolver {
  const trusted = new BlockList();
  for (const cidr of trust.cidrs) {
    const [address = '', prefix] = cidr.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) trusted.addAddress(address, family);
    else trusted.addSubnet(address, Number(prefix), family);
  }
  const isTrusted = (address: string): boolean => {
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };

  return (peerRaw, forwardedFor) => {
    const peer = unmapped(peerRaw ?? 'unknown');
    if ((trust.hops === 0 && trust.cidrs.length === 0) || forwardedFor === undefined) return peer;
    const chain = forwardedFor.split(',').map((s) => unmapped(s.trim())).filter((s) => isIP(s) !== 0);
    if (trust.hops > 0) {
      // With N trusted hops, the client is the entry N-1 places from the right (the peer is hop N).
      return chain[chain.length - trust.hops] ?? chain[0] ?? peer;
    }
    // Walk from the right while each sender is a trusted proxy.
    let current = peer;
    for (let i = chain.length - 1; i >= 0 && isTrusted(current); i--) current = chain[i] ?? current;
    return current;
  };
}
