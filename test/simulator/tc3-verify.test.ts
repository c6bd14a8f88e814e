import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { canonicalRequest, expectedTc3Signature, parseTc3Authorization } from '../../simulator/tc3-verify.js';

interface Vector {
  id: string;
  inputs: { secretKey: string; timestamp: number; host: string; action: string; contentType?: string; body?: string };
  expected: { canonicalRequest: string; signature: string; authorization: string; body?: string; contentType?: string };
}

const vectorsPath = fileURLToPath(new URL('../fixtures/tc3-vectors.json', import.meta.url));
const file = JSON.parse(readFileSync(vectorsPath, 'utf8')) as { docExamples: Vector[]; vectors: Vector[] };
const all = [...file.docExamples, ...file.vectors];

describe("the simulator's own TC3 verifier", () => {
  it.each(all)('accepts the signature of vector $id, rebuilt from the wire headers', (vector) => {
    const parsed = parseTc3Authorization(vector.expected.authorization);
    if (!parsed.ok) throw new Error(parsed.reason);
    const body = Buffer.from(vector.expected.body ?? vector.inputs.body ?? '', 'utf8');
    const contentType = vector.expected.contentType ?? vector.inputs.contentType ?? '';
    const canonical = canonicalRequest(
      {
        method: 'POST',
        path: '/',
        query: '',
        // As a server receives them: the action in its original case, which the canonical form lowercases.
        headers: { 'content-type': contentType, host: vector.inputs.host, 'x-tc-action': vector.inputs.action },
        body,
      },
      parsed.value.signedHeaders,
    );
    expect(canonical).toBe(vector.expected.canonicalRequest);
    expect(expectedTc3Signature(vector.inputs.secretKey, parsed.value, String(vector.inputs.timestamp), canonical!)).toBe(
      vector.expected.signature,
    );
  });

  it('refuses malformed Authorization headers', () => {
    const good = 'TC3-HMAC-SHA256 Credential=AKID1/2024-01-01/cvm/tc3_request, SignedHeaders=content-type;host, Signature=' + 'a'.repeat(64);
    expect(parseTc3Authorization(good).ok).toBe(true);
    for (const bad of [
      undefined,
      '',
      good.replace('TC3-HMAC-SHA256', 'HMAC-SHA256'),
      good.replace('/tc3_request', '/tc2_request'),
      good.replace('2024-01-01', '20240101'),
      good.replace('content-type;host', 'host;content-type'),
      good.replace('content-type;host', 'Content-Type;host'),
      good.replace('a'.repeat(64), 'A'.repeat(64)),
      good.replace(', Signature=' + 'a'.repeat(64), ''),
      good + ', Extra=1',
    ]) {
      expect(parseTc3Authorization(bad).ok, String(bad)).toBe(false);
    }
  });

  it('reports a signed header the request lacks instead of signing an empty value', () => {
    const headers = { 'content-type': 'application/json' };
    expect(canonicalRequest({ method: 'POST', path: '/', query: '', headers, body: Buffer.alloc(0) }, ['content-type', 'host'])).toBeUndefined();
  });
});
