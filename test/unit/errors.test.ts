import { describe, expect, it } from 'vitest';
import { closeReason, ERROR_CATALOGUE, GatewayError, type ErrorCode } from '../../gateway/errors.js';

describe('the error catalogue', () => {
  it.each(Object.keys(ERROR_CATALOGUE) as ErrorCode[])('%s has a close reason that fits a control frame', (code) => {
    const error = new GatewayError(code, { retryAfterSeconds: 59 });
    const reason = error.toCloseReason();
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(JSON.parse(reason)).toMatchObject({ code, retryAfter: 59 });
  });

  it('never uses a reserved close code', () => {
    for (const spec of Object.values(ERROR_CATALOGUE)) expect([1005, 1006, 1015]).not.toContain(spec.closeCode);
  });

  it('shortens long messages instead of overflowing the 123-byte limit', () => {
    const reason = closeReason('rate_limited', 'é'.repeat(200), 30);
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(JSON.parse(reason).message.endsWith('…')).toBe(true);
  });

  it('gives clients the fixed message and keeps the cause for the logs', () => {
    const error = new GatewayError('tencent_api_error', { cause: new Error('InternalError: secret detail') });
    expect(JSON.stringify(error.toBody())).not.toContain('secret detail');
    expect((error.cause as Error).message).toContain('secret detail');
  });
});
