// The client address behind trusted proxies: only entries the trusted proxies wrote are believed.

import { describe, expect, it } from 'vitest';
import { createClientIpResolver } from '../../../gateway/client-ip.js';

describe('createClientIpResolver', () => {
  it('uses the socket peer when no proxy is trusted, whatever X-Forwarded-For says', () => {
    const resolve = createClientIpResolver({ hops: 0, cidrs: [] });
    expect(resolve('::ffff:10.0.0.9', '6.6.6.6')).toBe('10.0.0.9');
  });

  it('takes the entry the last trusted hop appended', () => {
    const resolve = createClientIpResolver({ hops: 1, cidrs: [] });
    expect(resolve('10.0.0.1', '6.6.6.6, 203.0.113.7')).toBe('203.0.113.7');
  });

  it.each([
    ['an address with a port', '6.6.6.6, 203.0.113.7:51234', '203.0.113.7'],
    ['a bracketed IPv6 address with a port', '6.6.6.6, [2001:db8::7]:443', '2001:db8::7'],
    ['"unknown"', '6.6.6.6, unknown', '10.0.0.1'],
  ])('never lets the client-written entry win when the trusted proxy wrote %s', (_name, header, expected) => {
    const resolve = createClientIpResolver({ hops: 1, cidrs: [] });
    expect(resolve('10.0.0.1', header)).toBe(expected);
  });

  it('walks trusted CIDRs from the right and stops at an entry it cannot read', () => {
    const resolve = createClientIpResolver({ hops: 0, cidrs: ['10.0.0.0/8'] });
    expect(resolve('10.0.0.1', '6.6.6.6, 203.0.113.7')).toBe('203.0.113.7');
    expect(resolve('10.0.0.1', '6.6.6.6, 10.0.0.2, 203.0.113.7')).toBe('203.0.113.7');
    expect(resolve('10.0.0.1', '6.6.6.6, unknown')).toBe('10.0.0.1');
  });
});
