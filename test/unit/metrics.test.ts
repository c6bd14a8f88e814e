// The metrics module on its own: label values stay in bounded sets whatever a client or
// Tencent sends, and the Tencent wrapper times and counts every call.

import { Hono } from 'hono';
import { describe, expect, it } from 'vitest';
import type { AuditRecord } from '../../gateway/audit/audit-events.js';
import { GatewayError } from '../../gateway/errors.js';
import { createLogger } from '../../gateway/logger.js';
import { createGatewayMetrics } from '../../gateway/metrics.js';
import { createRequestLog } from '../../gateway/request-log.js';
import type { TencentClient } from '../../gateway/tencent/client.js';

const base = { id: 'r1', ts: '2025-01-01T00:00:00.000Z', actor: null, clientIp: '192.0.2.1', gatewayRequestId: 'g1' };

describe('gateway metrics', () => {
  it('folds close codes, reasons and codes it does not know into "other"', async () => {
    const metrics = createGatewayMetrics({ defaultMetrics: false });
    const ended = { ...base, type: 'session.ended', sessionId: 's', durationMs: 1, bytesFromClient: 1, bytesFromUpstream: 2, closedBy: 'client' } as const;
    metrics.observe({ ...ended, closeCode: 4999, reason: 'Robert"); DROP' } as AuditRecord);
    metrics.observe({ ...ended, closeCode: 4409, reason: 'client_closed' } as AuditRecord);
    metrics.observe({ ...base, type: 'session.denied', code: 'made_up_code', stage: 'upgrade' } as AuditRecord);
    const text = await metrics.render();
    expect(text).toContain('vnc_gateway_sessions_ended_total{close_code="other",closed_by="client",reason="other"} 1');
    expect(text).toContain('vnc_gateway_sessions_ended_total{close_code="4409",closed_by="client",reason="client_closed"} 1');
    expect(text).toContain('vnc_gateway_session_refusals_total{code="other",stage="upgrade"} 1');
    expect(text).not.toContain('DROP');
  });

  it('times Tencent calls and labels them with documented codes only', async () => {
    let clock = 100;
    const metrics = createGatewayMetrics({ defaultMetrics: false, now: () => clock });
    const failing = (upstreamCode: string): TencentClient => ({
      call: async () => {
        clock += 0.3;
        throw new GatewayError('tencent_api_error', { upstreamCode });
      },
    });
    const call = { product: 'cvm', action: 'DescribeInstanceVncUrl', params: {} } as const;
    await expect(metrics.instrumentTencent(failing('AuthFailure.SignatureFailure')).call(call)).rejects.toThrow();
    await expect(metrics.instrumentTencent(failing('Something.Invented')).call(call)).rejects.toThrow();
    const text = await metrics.render();
    expect(text).toContain('vnc_gateway_tencent_api_requests_total{product="cvm",action="DescribeInstanceVncUrl",result="AuthFailure.SignatureFailure"} 1');
    expect(text).toContain('vnc_gateway_tencent_api_requests_total{product="cvm",action="DescribeInstanceVncUrl",result="other"} 1');
    expect(text).toContain('vnc_gateway_tencent_api_duration_seconds_bucket{le="0.5",product="cvm",action="DescribeInstanceVncUrl"} 2');
    expect(text).toContain('vnc_gateway_tencent_api_duration_seconds_bucket{le="0.25",product="cvm",action="DescribeInstanceVncUrl"} 0');
  });
});

describe('the HTTP request log', () => {
  it('gives every request an id, answers it in X-Request-Id, and logs the path without the query', async () => {
    const lines: string[] = [];
    const app = new Hono<{ Variables: { requestId: string } }>();
    app.use('*', createRequestLog({ logger: createLogger({ level: 'debug', destination: { write: (l: string) => void lines.push(l) } }), newId: () => 'req-1' }));
    app.get('/console/:id', (c) => c.text(c.get('requestId')));
    const res = await app.request('/console/lhins-abc12345?ticket=secret-ticket', { headers: { 'X-Request-Id': 'nginx-42' } });
    expect(await res.text()).toBe('req-1');
    expect(res.headers.get('x-request-id')).toBe('req-1');
    const logged = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(logged).toEqual([expect.objectContaining({ requestId: 'req-1', proxyRequestId: 'nginx-42', method: 'GET', path: '/console/lhins-abc12345', status: 200, level: 30 })]);
    expect(lines.join('')).not.toContain('secret-ticket');
  });
});
