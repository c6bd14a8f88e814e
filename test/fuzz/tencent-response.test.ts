// Property tests of what comes back from Tencent Cloud: any body through a stub transport ends
// in a parsed Response or a GatewayError with a catalogue code (RequestId kept when present),
// and any InstanceVncUrl decodes to a credential-free wss:// URL on an allowed host or is refused.

import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ERROR_CATALOGUE, GatewayError } from '../../gateway/errors.js';
import { createTencentClient, type TencentClient } from '../../gateway/tencent/client.js';
import { TENCENT_ERROR_CODES } from '../../gateway/tencent/error-codes.js';
import { TransportError, type HttpResponse } from '../../gateway/tencent/http-transport.js';
import { createHostAllowlist, decodeVncUrl } from '../../gateway/tencent/vnc-url.js';
import { fuzz, settlesWithin } from './fuzz-settings.js';

const NOW = Date.UTC(2031, 0, 1);

function clientAnswering(answer: () => Promise<HttpResponse>): TencentClient {
  return createTencentClient({
    credentials: async () => ({ secretId: 'AKIDfuzz', secretKey: 'fuzz-secret' }),
    transport: answer,
    region: 'ap-guangzhou',
    endpoints: { lighthouse: new URL('https://lighthouse.example.test'), cvm: new URL('https://cvm.example.test') },
    timeoutMs: 1000,
    now: () => NOW,
  });
}

const isRecord = (value: unknown): value is Record<string, unknown> => typeof value === 'object' && value !== null && !Array.isArray(value);

// Tencent codes as documented, as they might be garbled, and names that live on Object.prototype.
const errorCode = fc.oneof(
  fc.constantFrom(...Object.keys(TENCENT_ERROR_CODES)),
  fc.constantFrom('constructor', '__proto__', 'toString', 'hasOwnProperty', 'valueOf', 'AuthFailure.', 'InternalError.X', ''),
  fc.string({ maxLength: 30 }),
  fc.jsonValue({ maxDepth: 1 }),
);
const responseObject = fc.record(
  {
    RequestId: fc.oneof(fc.uuid(), fc.string({ maxLength: 20 }), fc.integer(), fc.constant(null)),
    Error: fc.oneof(fc.record({ Code: errorCode, Message: fc.oneof(fc.string({ maxLength: 40 }), fc.integer()) }, { requiredKeys: [] }), fc.jsonValue({ maxDepth: 1 })),
    InstanceVncUrl: fc.oneof(fc.string({ maxLength: 40 }), fc.constant('wss%3A%2F%2Fusevnc.qcloud.com%2Fvnc%3Fs%3Dx')),
    Extra: fc.jsonValue({ maxDepth: 2 }),
  },
  { requiredKeys: [] },
);
const body = fc.oneof(
  fc.string({ unit: 'binary', maxLength: 200 }),
  fc.json({ maxDepth: 3 }),
  { weight: 4, arbitrary: responseObject.map((Response) => JSON.stringify({ Response })) },
  fc.tuple(fc.jsonValue({ maxDepth: 2 }), responseObject).map(([outer, Response]) => JSON.stringify([outer, { Response }])),
  responseObject.map((Response) => JSON.stringify({ Response }).slice(0, -3)),
);
const status = fc.oneof({ weight: 4, arbitrary: fc.constant(200) }, { weight: 1, arbitrary: fc.constantFrom(0, 204, 301, 400, 403, 404, 429, 500, 502, 503, 999) });

describe('parsing Tencent Cloud answers', () => {
  it('ends any body in a Response or a catalogue GatewayError that keeps the RequestId', async () => {
    let parsedCount = 0;
    await fc.assert(
      fc.asyncProperty(status, body, async (httpStatus, text) => {
        const client = clientAnswering(async () => ({ status: httpStatus, body: text }));
        const outcome = await settlesWithin(client.call({ product: 'lighthouse', action: 'DescribeInstanceVncUrl', params: { InstanceId: 'lhins-abc123' } }), 1000, 'client.call');
        let parsed: unknown;
        try {
          parsed = JSON.parse(text);
        } catch {
          parsed = undefined;
        }
        const response = isRecord(parsed) && isRecord(parsed['Response']) ? parsed['Response'] : undefined;
        const requestId = typeof response?.['RequestId'] === 'string' ? response['RequestId'] : undefined;
        if (outcome.ok) {
          parsedCount++;
          // Only a 200 with a Response object and no Error object is a success.
          expect(httpStatus).toBe(200);
          expect(response).toBeDefined();
          expect(isRecord(response?.['Error'])).toBe(false);
          expect(outcome.value.response).toEqual(response);
          expect(outcome.value.requestId).toBe(requestId ?? '');
          return;
        }
        const error = outcome.error;
        expect(error, String(error)).toBeInstanceOf(GatewayError);
        const gatewayError = error as GatewayError;
        expect(Object.keys(ERROR_CATALOGUE)).toContain(gatewayError.code);
        expect(gatewayError.httpStatus).toBe(ERROR_CATALOGUE[gatewayError.code].httpStatus);
        if (requestId !== undefined) expect(gatewayError.requestId).toBe(requestId);
        // Tencent's own Message may name internals: the client only ever sees a catalogue sentence.
        const message = isRecord(response?.['Error']) ? response['Error']['Message'] : undefined;
        if (typeof message === 'string' && message.length > 3) expect(gatewayError.message).not.toContain(message);
      }),
      fuzz(300),
    );
    expect(parsedCount).toBeGreaterThan(0);
  });

  it('turns any transport failure into a catalogue GatewayError', async () => {
    const thrown = fc.oneof(
      fc.boolean().map((timedOut) => new TransportError('transport failed', timedOut)),
      fc.string().map((message) => new Error(message)),
      fc.jsonValue({ maxDepth: 1 }),
    );
    await fc.assert(
      fc.asyncProperty(thrown, async (failure) => {
        const client = clientAnswering(() => Promise.reject(failure));
        const outcome = await settlesWithin(client.call({ product: 'cvm', action: 'DescribeInstanceVncUrl', params: {} }), 1000, 'client.call');
        expect(outcome.ok).toBe(false);
        if (!outcome.ok) {
          expect(outcome.error).toBeInstanceOf(GatewayError);
          const expected = failure instanceof TransportError && failure.timedOut ? 'tencent_api_timeout' : 'tencent_api_error';
          expect((outcome.error as GatewayError).code).toBe(expected);
        }
      }),
      fuzz(100),
    );
  });
});

describe('decoding InstanceVncUrl', () => {
  const allow = createHostAllowlist(['*.qcloud.com', 'vnc.example.test']);
  /** The allowlist, restated: a host ending in .qcloud.com with something before it, or the one exact name. */
  const allowedByReference = (host: string): boolean => {
    const h = host.toLowerCase().replace(/\.$/, '');
    return (h.endsWith('.qcloud.com') && h.length > '.qcloud.com'.length) || h === 'vnc.example.test';
  };

  const scheme = fc.constantFrom('wss://', 'wss://', 'WSS://', 'ws://', 'https://', 'wss:', 'wss:/', 'wss:\\\\', 'javascript:', 'file://', '');
  const userinfo = fc.constantFrom('', '', '', 'user@', 'user:pw@', ':@', 'usevnc.qcloud.com@', '%40@');
  const host = fc.constantFrom(
    'usevnc.qcloud.com', 'a.b.qcloud.com', 'qcloud.com', '.qcloud.com', 'evilqcloud.com', 'usevnc.qcloud.com.evil.test', 'USEVNC.QCLOUD.COM',
    'usevnc.qcloud.com.', 'vnc.example.test', 'x.vnc.example.test', '127.0.0.1', '[::1]', '169.254.0.23', 'xn--qcloud-9ya.com',
    'usevnc%2Eqcloud.com', 'usevnc.qcloud.com%00.evil', 'usevnc。qcloud。com', 'evil.test#.qcloud.com', 'evil.test?.qcloud.com', 'evil.test\\.qcloud.com', '',
  );
  const port = fc.constantFrom('', '', ':443', ':0', ':65536', ':abc', ':');
  const rest = fc.constantFrom('', '/vnc?s=abc', '/vnc?s=abc&password=&isWindows=false', '/../..//x', '#frag', '?s=%2541');
  const urlText = fc.tuple(scheme, userinfo, host, port, rest).map((parts) => parts.join(''));
  const encodedTimes = fc.constantFrom(0, 1, 1, 1, 2);
  const encoded = fc.oneof(
    { weight: 4, arbitrary: fc.tuple(urlText, encodedTimes).map(([text, times]) => Array.from({ length: times }).reduce<string>((s) => encodeURIComponent(s), text)) },
    fc.string({ unit: 'binary', maxLength: 80 }),
    fc.string({ unit: fc.constantFrom(...'%2Fw3As:/.qcloud.com'.split('')), maxLength: 60 }),
    fc.constantFrom('x'.repeat(5000), undefined, null, 42, {}, ['wss%3A%2F%2Fa.qcloud.com']),
  );

  it('returns only credential-free wss: URLs on an allowed host, and refuses the rest with a GatewayError', () => {
    let acceptedCount = 0;
    fc.assert(
      fc.property(encoded, (input) => {
        let url: URL;
        try {
          url = decodeVncUrl(input, allow, 'req-fuzz');
        } catch (error) {
          expect(error, String(error)).toBeInstanceOf(GatewayError);
          expect(['tencent_api_error', 'upstream_host_forbidden']).toContain((error as GatewayError).code);
          expect((error as GatewayError).requestId).toBe('req-fuzz');
          return;
        }
        acceptedCount++;
        expect(url.protocol).toBe('wss:');
        expect(url.username).toBe('');
        expect(url.password).toBe('');
        expect(allowedByReference(url.hostname), url.hostname).toBe(true);
        // What will be dialled is what was checked: re-parsing the serialised URL changes nothing.
        expect(new URL(url.href).hostname).toBe(url.hostname);
      }),
      fuzz(600),
    );
    expect(acceptedCount).toBeGreaterThan(0);
  });
});
