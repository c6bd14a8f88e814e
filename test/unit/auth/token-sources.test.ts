import { describe, expect, it } from 'vitest';
import { extractToken, parseCookies } from '../../../auth/token-sources.js';

/** Looks headers up by lowercase name, as Hono and Node do. */
function headers(values: Record<string, string>): (name: string) => string | undefined {
  const lower = new Map(Object.entries(values).map(([k, v]) => [k.toLowerCase(), v]));
  return (name) => lower.get(name.toLowerCase());
}

const options = { tokenHeader: 'Cf-Access-Jwt-Assertion', tokenCookie: 'CF_Authorization' };

describe('extractToken', () => {
  it('prefers Authorization: Bearer over the header and the cookie', () => {
    const got = headers({ authorization: 'Bearer b.b.b', 'cf-access-jwt-assertion': 'h.h.h', cookie: 'CF_Authorization=c.c.c' });
    expect(extractToken(got, options)).toEqual({ token: 'b.b.b', source: 'bearer' });
  });

  it('prefers the configured header over the cookie', () => {
    const got = headers({ 'Cf-Access-Jwt-Assertion': 'h.h.h', cookie: 'CF_Authorization=c.c.c' });
    expect(extractToken(got, options)).toEqual({ token: 'h.h.h', source: 'header' });
  });

  it('falls back to the configured cookie', () => {
    expect(extractToken(headers({ cookie: 'CF_Authorization=c.c.c' }), options)).toEqual({ token: 'c.c.c', source: 'cookie' });
  });

  it.each(['Bearer t.t.t', 'bearer t.t.t', 'BEARER t.t.t', 'Bearer   t.t.t  ', ' Bearer\tt.t.t'])(
    'reads the bearer token from %j',
    (value) => {
      expect(extractToken(headers({ authorization: value }))).toEqual({ token: 't.t.t', source: 'bearer' });
    },
  );

  it.each(['Bearer', 'Bearer ', 'Bearer    ', 'Basic dXNlcjpwYXNz', 'Bearertoken', 'Bearer a b', ''])(
    'does not take %j as a bearer token and falls through to the cookie',
    (value) => {
      const got = headers({ authorization: value, cookie: 'CF_Authorization=c.c.c' });
      expect(extractToken(got, options)).toEqual({ token: 'c.c.c', source: 'cookie' });
    },
  );

  it('treats an empty configured header as absent', () => {
    const got = headers({ 'cf-access-jwt-assertion': '  ', cookie: 'CF_Authorization=c.c.c' });
    expect(extractToken(got, options)).toEqual({ token: 'c.c.c', source: 'cookie' });
  });

  it('strips a Bearer prefix some proxies put in the configured header', () => {
    expect(extractToken(headers({ 'cf-access-jwt-assertion': 'Bearer h.h.h' }), options)).toEqual({ token: 'h.h.h', source: 'header' });
  });

  it('treats an empty cookie as absent', () => {
    expect(extractToken(headers({ cookie: 'CF_Authorization=; other=x' }), options)).toBeUndefined();
    expect(extractToken(headers({ cookie: 'CF_Authorization=""' }), options)).toBeUndefined();
  });

  it('does not look at headers or cookies that are not configured', () => {
    const got = headers({ 'cf-access-jwt-assertion': 'h.h.h', cookie: 'CF_Authorization=c.c.c' });
    expect(extractToken(got, {})).toBeUndefined();
  });

  it('finds nothing in a request without credentials', () => {
    expect(extractToken(headers({}), options)).toBeUndefined();
  });

  it('does not match a cookie whose name merely starts or ends with the configured one', () => {
    const got = headers({ cookie: 'CF_Authorization_old=x.x.x; xCF_Authorization=y.y.y' });
    expect(extractToken(got, options)).toBeUndefined();
  });
});

describe('parseCookies', () => {
  it.each<[string, [string, string][]]>([
    ['a=1; b=2', [['a', '1'], ['b', '2']]],
    ['a=1;b=2', [['a', '1'], ['b', '2']]],
    ['  a = 1 ;   b=2  ', [['a', '1'], ['b', '2']]],
    ['a="quoted value"; b=2', [['a', 'quoted value'], ['b', '2']]],
    ['a="x', [['a', '"x']]],
    ['a=x=y=z', [['a', 'x=y=z']]],
    ['a=1; a=2', [['a', '1']]],
    ['a=%7Bjson%7D', [['a', '{json}']]],
    ['a=%E0%A4%A', [['a', '%E0%A4%A']]],
    ['flag; a=1; =nameless', [['a', '1']]],
    ['__proto__=p; constructor=c', [['__proto__', 'p'], ['constructor', 'c']]],
    ['', []],
  ])('parses %j', (header, expected) => {
    expect([...parseCookies(header)]).toEqual(expected);
  });

  it('parses an absent header as no cookies', () => {
    expect(parseCookies(undefined).size).toBe(0);
  });

  it('keeps a prefix-named cookie separate from the longer name', () => {
    const parsed = parseCookies('session_id=long; session=short');
    expect(parsed.get('session')).toBe('short');
    expect(parsed.get('session_id')).toBe('long');
  });
});
