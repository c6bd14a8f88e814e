import { describe, expect, it } from 'vitest';
import { isGatewayError } from '../../../gateway/errors.js';
import { createHostAllowlist, decodeVncUrl } from '../../../gateway/tencent/vnc-url.js';

const allow = createHostAllowlist(['*.qcloud.com']);
// The exact example from Tencent's DescribeInstanceVncUrl page.
const EXAMPLE =
  'wss%3A%2F%2Fusevnc.qcloud.com%3A443%2Fvnc%3Fs%3DTnVQUEpVYkc4eUMvMEkyUERKUjhRbzJhbGcyWHFaWmVMU1dRbUQwd0hVVHo2WU4wOEpLWjlQd0JVSWQwUXZOK2FDcWlOdDJIbUJxSTZDL0RXcHZxYnZZMmRkWWZWcEZia2lyb09XMzdKNmM9%26password%3D%26isWindows%3Dfalse%26isUbuntu%3Dfalse';

function refusal(encoded: unknown): string {
  try {
    decodeVncUrl(encoded, allow, 'req-1');
  } catch (error) {
    if (isGatewayError(error)) return error.code;
    throw error;
  }
  return 'accepted';
}

describe('decoding InstanceVncUrl', () => {
  it("decodes the page's example into a wss URL on the allowed host", () => {
    const url = decodeVncUrl(EXAMPLE, allow);
    expect(url.protocol).toBe('wss:');
    expect(url.hostname).toBe('usevnc.qcloud.com');
    expect(url.port).toBe('');
    expect(url.pathname).toBe('/vnc');
    expect(url.searchParams.get('isWindows')).toBe('false');
    expect(url.searchParams.get('s')?.length).toBeGreaterThan(40);
  });

  it.each([
    ['a host outside the allowlist', encodeURIComponent('wss://attacker.example/vnc?s=x'), 'upstream_host_forbidden'],
    ['a look-alike suffix', encodeURIComponent('wss://usevnc.qcloud.com.attacker.example/vnc?s=x'), 'upstream_host_forbidden'],
    ['the bare apex', encodeURIComponent('wss://qcloud.com/vnc?s=x'), 'upstream_host_forbidden'],
    ['an IP literal', encodeURIComponent('wss://169.254.0.23/vnc?s=x'), 'upstream_host_forbidden'],
    ['user info smuggling a host', encodeURIComponent('wss://usevnc.qcloud.com@attacker.example/vnc'), 'tencent_api_error'],
    ['user info on an allowed host', encodeURIComponent('wss://me@usevnc.qcloud.com/vnc'), 'tencent_api_error'],
    ['plain ws', encodeURIComponent('ws://usevnc.qcloud.com/vnc?s=x'), 'tencent_api_error'],
    ['https', encodeURIComponent('https://usevnc.qcloud.com/vnc?s=x'), 'tencent_api_error'],
    ['an undecoded URL', 'wss://usevnc.qcloud.com/vnc?s=x', 'tencent_api_error'],
    ['a broken escape', 'wss%3A%2F%2Fusevnc.qcloud.com%2', 'tencent_api_error'],
    ['an encoded control character', encodeURIComponent('wss://usevnc.qcloud.com/\tvnc'), 'tencent_api_error'],
    ['an encoded backslash', encodeURIComponent('wss://attacker.example\\@usevnc.qcloud.com/vnc'), 'tencent_api_error'],
    ['an empty string', '', 'tencent_api_error'],
    ['a number', 42, 'tencent_api_error'],
    ['null', null, 'tencent_api_error'],
    ['an oversized value', 'a'.repeat(5000), 'tencent_api_error'],
  ])('refuses %s', (_what, encoded, code) => {
    expect(refusal(encoded)).toBe(code);
  });

  it('matches hosts case-insensitively and ignores a trailing dot', () => {
    expect(refusal(encodeURIComponent('wss://USEVNC.QCLOUD.COM./vnc?s=x'))).toBe('accepted');
  });

  it('keeps the Tencent RequestId on a refusal for the audit record', () => {
    try {
      decodeVncUrl(encodeURIComponent('wss://attacker.example/'), allow, 'req-42');
      expect.unreachable();
    } catch (error) {
      expect(isGatewayError(error) && error.requestId).toBe('req-42');
    }
  });
});
