import { describe, expect, it } from 'vitest';
import { createNoProxyMatcher } from '../../../gateway/egress/no-proxy.js';

describe('NO_PROXY matching', () => {
  it.each([
    ['*', 'https://anything.example', true],
    ['example.com', 'https://example.com/x', true],
    ['example.com', 'https://api.example.com/x', true],
    ['.example.com', 'https://api.example.com/x', true],
    ['example.com', 'https://notexample.com/x', false],
    ['localhost:8443', 'wss://localhost:8443/vnc', true],
    ['localhost:8443', 'wss://localhost/vnc', false],
    ['10.0.0.1', 'https://10.0.0.1:9000/', true],
    ['[::1]:443', 'https://[::1]/', true],
    ['', 'https://example.com/', false],
    ['a.com, b.com', 'https://b.com/', true],
  ])('%s against %s bypasses: %s', (list, url, expected) => {
    expect(createNoProxyMatcher(list)(new URL(url))).toBe(expected);
  });
});
