// Property tests of where tokens are found: the Authorization header, an SSO proxy's header and
// the Cookie header. Arbitrary header values never throw, never yield an empty token, and
// well-formed cookie headers round-trip exactly.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { extractToken, parseCookies } from '../../auth/token-sources.js';
import { fuzz } from './fuzz-settings.js';

// RFC 6265 §4.1.1: cookie-name is an RFC 7230 token, cookie-octet excludes CTLs, space, DQUOTE, comma, semicolon and backslash.
const TOKEN_CHARS = "!#$&'*+-.^_`|~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz".split('');
const COOKIE_OCTETS = "!#$&'()*+-./0123456789:<=>?@ABCDEFGHIJKLMNOPQRSTUVWXYZ[]^_`abcdefghijklmnopqrstuvwxyz{|}~".split('');
const cookieName = fc.string({ unit: fc.constantFrom(...TOKEN_CHARS), minLength: 1, maxLength: 12 });
const cookieValue = fc.string({ unit: fc.constantFrom(...COOKIE_OCTETS), maxLength: 40 });
// Header values as an attacker may send them: any text, including separators and broken escapes.
const hostile = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.string({ unit: fc.constantFrom(...'=; ,"%\t\\abAB0_-'.split('')), maxLength: 80 }),
);
const optional = <T,>(arb: fc.Arbitrary<T>): fc.Arbitrary<T | undefined> => fc.option(arb, { nil: undefined });

describe('parsing the Cookie header under arbitrary input', () => {
  it('never throws and yields only trimmed, non-empty names free of separators', () => {
    fc.assert(
      fc.property(hostile, (header) => {
        for (const [name] of parseCookies(header)) {
          expect(name).not.toBe('');
          expect(name).toBe(name.trim());
          expect(name).not.toMatch(/[;=]/);
        }
      }),
      fuzz(500),
    );
  });

  it('returns exactly the first value of every name in a well-formed header', () => {
    const pairs = fc.array(fc.tuple(cookieName, cookieValue, fc.boolean(), fc.constantFrom('; ', ';', ' ;  ')), { maxLength: 8 });
    fc.assert(
      fc.property(pairs, (list) => {
        const header = list.map(([name, value, quoted], i) => `${name}=${quoted ? `"${value}"` : value}${i < list.length - 1 ? list[i]![3] : ''}`).join('');
        const expected = new Map<string, string>();
        for (const [name, value] of list) {
          if (expected.has(name)) continue;
          // Percent-escapes are decoded when they are valid UTF-8 escapes, and kept raw otherwise.
          let decoded = value;
          try {
            decoded = decodeURIComponent(value);
          } catch {
            decoded = value;
          }
          expected.set(name, decoded);
        }
        expect(parseCookies(header)).toEqual(expected);
      }),
      fuzz(500),
    );
  });

  it('never matches a cookie whose name merely starts or ends like the configured one', () => {
    fc.assert(
      fc.property(cookieName, cookieName, cookieValue, (name, extra, value) => {
        const header = `${name}${extra}=${value}; ${extra}${name}=${value}`;
        expect(parseCookies(header).get(name)).toBeUndefined();
        expect(extractToken((n) => (n === 'cookie' ? header : undefined), { tokenCookie: name })).toBeUndefined();
      }),
      fuzz(300),
    );
  });
});

describe('finding the token under arbitrary headers', () => {
  const headersArb = fc.record({
    authorization: optional(hostile),
    'x-sso-token': optional(hostile),
    cookie: optional(hostile),
  });

  it('never throws, never returns an empty token, and a bearer token never holds whitespace', () => {
    fc.assert(
      fc.property(headersArb, fc.boolean(), (headers, configured) => {
        const lookups: string[] = [];
        const found = extractToken(
          (name) => {
            lookups.push(name);
            return headers[name as keyof typeof headers];
          },
          configured ? { tokenHeader: 'X-SSO-Token', tokenCookie: 'corp_session' } : {},
        );
        // HTTP header names are case-insensitive: lookups are always lowercase.
        for (const name of lookups) expect(name).toBe(name.toLowerCase());
        if (found === undefined) return;
        expect(found.token).not.toBe('');
        if (found.source === 'bearer') expect(found.token).not.toMatch(/\s/);
        if (!configured) expect(found.source).toBe('bearer');
      }),
      fuzz(500),
    );
  });

  it('returns any bearer token exactly, whatever the case of the scheme and the spacing around it', () => {
    const b64token = fc.string({ unit: fc.constantFrom(...'ABCxyz019-._~+/='.split('')), minLength: 1, maxLength: 60 });
    fc.assert(
      fc.property(fc.mixedCase(fc.constant('bearer')), fc.constantFrom(' ', '  ', '\t', ' \t'), b64token, fc.constantFrom('', ' ', '\t'), (scheme, gap, token, tail) => {
        const found = extractToken((name) => (name === 'authorization' ? `${scheme}${gap}${token}${tail}` : undefined));
        expect(found).toEqual({ token, source: 'bearer' });
      }),
      fuzz(300),
    );
  });
});
