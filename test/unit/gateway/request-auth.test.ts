// The Origin rule of createRequestAuthenticator when neither PUBLIC_URL nor ALLOWED_ORIGINS is
// set (a trial): the Origin's host must be the request's Host, and its scheme the request's
// scheme whenever that is known — a TLS socket, or X-Forwarded-Proto from a TRUST_PROXY hop.

import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { createJwtVerifier } from '../../../auth/jwt-verifier.js';
import { createOriginCheck } from '../../../auth/origin.js';
import type { TrustProxy } from '../../../gateway/client-ip.js';
import { createRequestAuthenticator, type RequestTransport } from '../../../gateway/request-auth.js';

const verifier = createJwtVerifier({
  staticKeys: readFileSync(fileURLToPath(new URL('../auth/fixtures/rsa-cert.pem', import.meta.url)), 'utf8'),
  issuer: 'https://idp.example/',
  audience: 'vnc-gateway',
  algorithms: ['RS256'],
});

function fallback(trustProxy: TrustProxy) {
  return createRequestAuthenticator({ verifier, originAllowed: undefined, trustProxy, tokenCookie: 'corp_session' });
}

const plain = (peer: string, forwardedProto?: string): RequestTransport => ({ socket: { remoteAddress: peer }, ...(forwardedProto === undefined ? {} : { forwardedProto }) });
const tls = (peer: string): RequestTransport => ({ socket: { remoteAddress: peer, encrypted: true } });
const NO_TRUST: TrustProxy = { hops: 0, cidrs: [] };

describe('the same-host Origin fallback', () => {
  it.each<[string, TrustProxy, string, RequestTransport, boolean]>([
    ['an unknown scheme (plain socket, no trusted proxy): host only', NO_TRUST, 'http://gw.example', plain('192.0.2.1'), true],
    ['X-Forwarded-Proto from an untrusted peer, which is not believed', NO_TRUST, 'http://gw.example', plain('192.0.2.1', 'https'), true],
    ['an http page when a trusted hop says https', { hops: 1, cidrs: [] }, 'http://gw.example', plain('10.0.0.1', 'https'), false],
    ['an https page when a trusted hop says https', { hops: 1, cidrs: [] }, 'https://gw.example', plain('10.0.0.1', 'https'), true],
    ['an https page when a trusted hop says http', { hops: 1, cidrs: [] }, 'https://gw.example', plain('10.0.0.1', 'HTTP'), false],
    ['an http page via a proxy in a trusted CIDR saying https', { hops: 0, cidrs: ['10.0.0.0/8'] }, 'http://gw.example', plain('::ffff:10.0.0.1', 'https'), false],
    ['an http page via a peer outside the trusted CIDRs', { hops: 0, cidrs: ['10.0.0.0/8'] }, 'http://gw.example', plain('192.0.2.9', 'https'), true],
    ['X-Forwarded-Proto hops that disagree: unknown, host only', { hops: 2, cidrs: [] }, 'http://gw.example', plain('10.0.0.1', 'https, http'), true],
    ['an http page on a TLS socket', NO_TRUST, 'http://gw.example', tls('192.0.2.1'), false],
    ['an https page on a TLS socket', NO_TRUST, 'https://gw.example', tls('192.0.2.1'), true],
    ['another host, whatever the scheme', { hops: 1, cidrs: [] }, 'https://evil.example', plain('10.0.0.1', 'https'), false],
  ])('with a cookie: %s', (_name, trust, origin, transport, allowed) => {
    const check = (): void => fallback(trust).checkOrigin(origin, 'cookie', 'gw.example', transport);
    if (allowed) expect(check).not.toThrow();
    else expect(check).toThrow(expect.objectContaining({ code: 'origin_forbidden' }));
  });

  it('still lets a bearer client without an Origin through, whatever the scheme', () => {
    expect(() => fallback({ hops: 1, cidrs: [] }).checkOrigin(undefined, 'bearer', 'gw.example', plain('10.0.0.1', 'https'))).not.toThrow();
  });

  it('leaves ALLOWED_ORIGINS alone: it compares whole origins already', () => {
    const auth = createRequestAuthenticator({ verifier, originAllowed: createOriginCheck(['https://console.corp.example']), trustProxy: { hops: 1, cidrs: [] } });
    expect(() => auth.checkOrigin('https://console.corp.example', 'cookie', 'gw.internal', plain('10.0.0.1', 'http'))).not.toThrow();
    expect(() => auth.checkOrigin('http://console.corp.example', 'cookie', 'console.corp.example', plain('10.0.0.1', 'http'))).toThrow();
  });
});
