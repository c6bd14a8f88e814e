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

/** One X-Forwarded-For entry as an address (`1.2.3.4:port` and `[v6]:port` as some proxies write them), or undefined. */
function addressOf(entry: string): string | undefined {
  const text = entry.trim();
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::\d+)?$/.exec(text)?.[1];
  const v4WithPort = /^(\d{1,3}(?:\.\d{1,3}){3}):\d+$/.exec(text)?.[1];
  const address = unmapped(bracketed ?? v4WithPort ?? text);
  return isIP(address) === 0 ? undefined : address;
}

/** Whether an address lies in one of `cidrs` (plain addresses allowed; IPv4-mapped IPv6 read as IPv4). */
function createCidrCheck(cidrs: readonly string[]): (address: string) => boolean {
  const trusted = new BlockList();
  for (const cidr of cidrs) {
    const [address = '', prefix] = cidr.split('/');
    const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
    if (prefix === undefined) trusted.addAddress(address, family);
    else trusted.addSubnet(address, Number(prefix), family);
  }
  return (raw) => {
    const address = unmapped(raw);
    const family = isIP(address);
    return family !== 0 && trusted.check(address, family === 6 ? 'ipv6' : 'ipv4');
  };
}

/**
 * Whether the socket peer is a proxy whose forwarding headers TRUST_PROXY believes: with a hop
 * count, whatever connects (the gateway is reachable only through those proxies); with CIDRs,
 * a peer inside them; with neither, nobody.
 */
export function createTrustedPeerCheck(trust: TrustProxy): (peer: string | undefined) => boolean {
  if (trust.hops > 0) return () => true;
  if (trust.cidrs.length === 0) return () => false;
  const inCidrs = createCidrCheck(trust.cidrs);
  return (peer) => peer !== undefined && inCidrs(peer);
}

export function createClientIpResolver(trust: TrustProxy): ClientIpResolver {
  const isTrusted = createCidrCheck(trust.cidrs);

  return (peerRaw, forwardedFor) => {
    const peer = unmapped(peerRaw ?? 'unknown');
    if ((trust.hops === 0 && trust.cidrs.length === 0) || forwardedFor === undefined) return peer;
    // Positions are counted in the header as sent: dropping an entry a trusted proxy wrote in a
    // form we cannot read ("unknown", an odd port syntax) would shift the count onto one the
    // client wrote itself, so such an entry is never skipped over.
    const chain = forwardedFor.split(',').map(addressOf);
    if (trust.hops > 0) {
      // With N trusted hops, the client is the entry N-1 places from the right (the peer is hop N).
      return chain[Math.max(0, chain.length - trust.hops)] ?? peer;
    }
    // Walk from the right while each sender is a trusted proxy; stop at an unreadable entry.
    let current = peer;
    for (let i = chain.length - 1; i >= 0 && isTrusted(current); i--) {
      const next = chain[i];
      if (next === undefined) break;
      current = next;
    }
    return current;
  };
}
