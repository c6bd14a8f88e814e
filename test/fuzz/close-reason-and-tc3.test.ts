// Property tests of two small builders and checkers: the WebSocket close reason (always valid
// JSON within a control frame's 123 bytes) and the simulator's TC3 verifier (arbitrary or
// tampered Authorization headers never verify, and parsing never throws).

import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { closeReason, ERROR_CATALOGUE, GatewayError, type ErrorCode } from '../../gateway/errors.js';
import { signTc3 } from '../../gateway/tencent/sign.js';
import { canonicalRequest, expectedTc3Signature, parseTc3Authorization, signaturesEqual, type Tc3RequestParts } from '../../simulator/tc3-verify.js';
import { fuzz } from './fuzz-settings.js';

const codes = Object.keys(ERROR_CATALOGUE) as ErrorCode[];

describe('close reasons', () => {
  const message = fc.oneof(
    fc.string({ maxLength: 200 }),
    fc.string({ unit: 'binary', maxLength: 200 }),
    fc.string({ unit: fc.constantFrom('"', '\\', '\u0000', '\n', 'é', '😀', '\ud800', '…', 'a'), maxLength: 150 }),
  );
  const retryAfter = fc.option(fc.oneof(fc.nat(), fc.integer({ min: 0, max: Number.MAX_SAFE_INTEGER }), fc.double({ min: 0, max: 1e300, noNaN: true })), { nil: undefined });

  it('are valid JSON of at most 123 bytes that keep the code, retryAfter and a prefix of the message', () => {
    fc.assert(
      fc.property(fc.constantFrom(...codes), message, retryAfter, (code, text, retry) => {
        const reason = closeReason(code, text, retry);
        expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
        const parsed = JSON.parse(reason) as { code: string; message: string; retryAfter?: number };
        expect(parsed.code).toBe(code);
        expect(parsed.retryAfter).toBe(retry);
        if (parsed.message !== text) {
          expect(parsed.message.endsWith('…')).toBe(true);
          expect(text.startsWith(parsed.message.slice(0, -1).trimEnd())).toBe(true);
        }
        // What ws actually sends: the reason as UTF-8, which a browser must decode strictly.
        expect(() => new TextDecoder('utf-8', { fatal: true }).decode(Buffer.from(reason))).not.toThrow();
      }),
      fuzz(400),
    );
  });

  it('shorten a long message in a bounded number of attempts, not one per character', () => {
    // Counting the JSON encodings rather than timing: trimming one character per attempt from
    // the end of a 5 000-character message would take about 5 000 of them.
    const stringify = vi.spyOn(JSON, 'stringify');
    try {
      const reason = new GatewayError('internal', { message: 'x'.repeat(5000) }).toCloseReason();
      expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
      expect(stringify.mock.calls.length).toBeLessThan(200);
    } finally {
      stringify.mockRestore();
    }
  });
});

describe("the simulator's TC3 verifier", () => {
  const SECRET_ID = 'AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE';
  const SECRET_KEY = 'Gu5t9xGARNpq86cd98joQYCN3EXAMPLE';
  const TIMESTAMP = 1_924_992_000;
  const body = '{"InstanceId":"lhins-abc123"}';
  const signed = signTc3({
    secretId: SECRET_ID,
    secretKey: SECRET_KEY,
    service: 'lighthouse',
    host: 'lighthouse.tencentcloudapi.com',
    contentType: 'application/json',
    payload: body,
    timestamp: TIMESTAMP,
  });
  const request: Tc3RequestParts = {
    method: 'POST',
    path: '/',
    query: '',
    headers: { 'content-type': 'application/json', host: 'lighthouse.tencentcloudapi.com', 'x-tc-action': 'DescribeInstanceVncUrl' },
    body: Buffer.from(body),
  };

  /** The simulator's path, in its order: parse, find the account, rebuild the canonical request, compare. */
  function verifies(authorization: string): boolean {
    const parsed = parseTc3Authorization(authorization);
    // The SecretId is not signed: it only picks the key, so an unknown one never verifies.
    if (!parsed.ok || parsed.value.secretId !== SECRET_ID) return false;
    const canonical = canonicalRequest(request, parsed.value.signedHeaders);
    if (canonical === undefined) return false;
    return signaturesEqual(expectedTc3Signature(SECRET_KEY, parsed.value, String(TIMESTAMP), canonical), parsed.value.signature);
  }

  it('verifies the genuine header (so the properties below can fail)', () => {
    expect(verifies(signed.authorization)).toBe(true);
  });

  const headerChar = fc.constantFrom(...'TC3-HMAC-SHA256 Credential=/,;SignedHeaders=Signature=abcdef0123456789 \t'.split(''));
  const arbitraryHeader = fc.oneof(
    fc.string({ unit: 'binary', maxLength: 300 }),
    fc.string({ unit: headerChar, maxLength: 300 }),
    fc.tuple(fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.string({ maxLength: 20 }), fc.string({ unit: fc.constantFrom(...'0123456789abcdef'.split('')), minLength: 64, maxLength: 64 })).map(
      ([id, date, headers, sig]) => `TC3-HMAC-SHA256 Credential=${id}/${date}/lighthouse/tc3_request, SignedHeaders=${headers}, Signature=${sig}`,
    ),
  );

  it('never throws on arbitrary headers and only parses well-formed ones', () => {
    fc.assert(
      fc.property(arbitraryHeader, (header) => {
        const parsed = parseTc3Authorization(header);
        if (!parsed.ok) {
          expect(typeof parsed.reason).toBe('string');
          return;
        }
        expect(parsed.value.signature).toMatch(/^[0-9a-f]{64}$/);
        expect(parsed.value.date).toMatch(/^\d{4}-\d{2}-\d{2}$/);
        expect(parsed.value.secretId).not.toBe('');
        expect([...parsed.value.signedHeaders].sort()).toEqual(parsed.value.signedHeaders);
        expect(verifies(header)).toBe(false);
      }),
      fuzz(1000),
    );
  });

  it('never verifies a tampered copy of the genuine header', () => {
    fc.assert(
      fc.property(fc.nat(), fc.string({ minLength: 1, maxLength: 2 }), fc.constantFrom('replace', 'insert', 'delete'), (at, text, how) => {
        const genuine = signed.authorization;
        const i = at % genuine.length;
        const tampered = how === 'replace' ? genuine.slice(0, i) + text + genuine.slice(i + 1) : how === 'insert' ? genuine.slice(0, i) + text + genuine.slice(i) : genuine.slice(0, i) + genuine.slice(i + 1);
        fc.pre(tampered !== genuine);
        expect(() => verifies(tampered)).not.toThrow();
        // Spaces after the field commas are free in the format; anything else must break the signature.
        if (tampered.replace(/,\s*/g, ',') === genuine.replace(/,\s*/g, ',')) return;
        expect(verifies(tampered), tampered).toBe(false);
      }),
      fuzz(1000),
    );
  });
});
