import { describe, expect, it } from 'vitest';
import { createOriginCheck, normaliseOrigin, type CredentialSource } from '../../../auth/origin.js';

const check = createOriginCheck(['https://console.corp.example', 'http://localhost:8080/']);

describe('origin check', () => {
  it.each<[string | undefined, CredentialSource, boolean]>([
    // Browser-borne credentials need one of our origins.
    ['https://console.corp.example', 'cookie', true],
    ['https://console.corp.example', 'header', true],
    [undefined, 'cookie', false],
    [undefined, 'header', false],
    ['', 'cookie', false],
    ['https://evil.example', 'cookie', false],
    ['https://evil.example', 'header', false],
    ['null', 'cookie', false],
    // Bearer and ticket without Origin: a CLI or API client.
    [undefined, 'bearer', true],
    [undefined, 'ticket', true],
    ['', 'ticket', true],
    // With an Origin, a browser page: it must be ours.
    ['https://console.corp.example', 'bearer', true],
    ['https://console.corp.example', 'ticket', true],
    ['https://evil.example', 'bearer', false],
    ['https://evil.example', 'ticket', false],
    ['null', 'bearer', false],
    ['null', 'ticket', false],
  ])('Origin %j with a %s credential → %s', (origin, credential, allowed) => {
    expect(check(origin, credential)).toBe(allowed);
  });

  it.each([
    ['HTTPS://CONSOLE.CORP.EXAMPLE', true],
    ['https://console.corp.example:443', true],
    ['http://localhost:8080', true],
    ['http://LOCALHOST:8080', true],
    ['http://console.corp.example', false],
    ['https://console.corp.example:8443', false],
    ['https://console.corp.example.evil.net', false],
    ['https://evil-console.corp.example', false],
    ['https://sub.console.corp.example', false],
    ['http://localhost', false],
    ['http://localhost:8081', false],
    ['https://console.corp.example/path', false],
    ['https://user@console.corp.example', false],
    ['not a url', false],
    ['file://console.corp.example', false],
  ])('compares %j after normalising: %s', (origin, allowed) => {
    expect(check(origin, 'cookie')).toBe(allowed);
  });

  it.each([['*'], ['null'], ['console.corp.example'], ['https://console.corp.example/app'], ['ftp://files.example'], ['']])(
    'refuses %j in ALLOWED_ORIGINS',
    (entry) => {
      expect(() => createOriginCheck([entry])).toThrow(/Invalid ALLOWED_ORIGINS/);
    },
  );

  it('lists every bad ALLOWED_ORIGINS entry at once', () => {
    expect(() => createOriginCheck(['*', 'https://ok.example', 'nope'])).toThrow(/"\*"[\s\S]*"nope"/);
  });

  it('allows nothing browser-borne when the list is empty', () => {
    const none = createOriginCheck([]);
    expect(none('https://console.corp.example', 'cookie')).toBe(false);
    expect(none(undefined, 'bearer')).toBe(true);
  });
});

describe('normaliseOrigin', () => {
  it.each([
    ['https://Example.COM:443', 'https://example.com'],
    ['http://example.com:80', 'http://example.com'],
    ['http://example.com:8080', 'http://example.com:8080'],
    ['https://bücher.example', 'https://xn--bcher-kva.example'],
    ['http://[::1]:3000', 'http://[::1]:3000'],
    ['null', undefined],
    ['javascript:alert(1)', undefined],
  ])('normalises %j to %j', (origin, expected) => {
    expect(normaliseOrigin(origin)).toBe(expected);
  });
});
