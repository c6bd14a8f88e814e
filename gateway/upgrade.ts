// The WebSocket door: Origin → authenticate (ticket or JWT) → authorize (policy) → limits →
// accept → DescribeInstanceVncUrl → connect upstream → relay. Refusals before the credential
// is known are HTTP statuses; everything after is a documented close code with a JSON reason,
// because a browser cannot read the status of a refused upgrade.

import { randomUUID } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { WebSocketServer, type WebSocket } from 'ws';
import type { Identity, Role } from '../auth/identity.js';
import { decide, type Policy } from '../auth/policy.js';
import type { TicketService } from '../auth/tickets.js';
import type { AuditLog } from './audit/audit-log.js';
import type { Actor } from './audit/audit-events.js';
import type { ClientIpResolver } from './client-ip.js';
import { GatewayError, closeReason, isGatewayError } from './errors.js';
import type { ApiBudget } from './limits/api-budget.js';
import type { InstanceConnectBudget } from './limits/instance-connect-budget.js';
import type { Logger } from './logger.js';
import { RelaySession, type RelayOptions } from './relay/relay-session.js';
import type { RequestAuthenticator, CredentialSource } from './request-auth.js';
import type { SessionRegistry } from './sessions/session-registry.js';
import { isInstanceId } from './tencent/products.js';
import type { VncUrl } from './tencent/vnc-url.js';

export const TICKET_PROTOCOL_PREFIX = 'vnc-gateway.ticket.';
const WS_PATH = /^\/ws\/instances\/([^/]+)$/;
// RFC 6455 §4.2.1: a base64-encoded 16-byte nonce, version 13.
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

export interface UpgradeDeps {
  auth: RequestAuthenticator;
  tickets: TicketService;
  policy: () => Policy;
  connectBudget: InstanceConnectBudget;
  apiBudget: ApiBudget;
  /** DescribeInstanceVncUrl for this instance, pinned to the upstream allowlist. */
  vncUrl: (instanceId: string) => Promise<VncUrl>;
  /** Opens the upstream socket (paused) offering these subprotocols. */
  connectUpstream: (url: URL, protocols: readonly string[]) => Promise<WebSocket>;
  audit: AuditLog;
  logger: Logger;
  sessions: SessionRegistry;
  clientIp: ClientIpResolver;
  isDraining: () => boolean;
  relay?: RelayOptions;
  /** Largest frame a client may send (RFB input messages are tiny). */
  maxClientPayloadBytes?: number;
}

interface Authorized {
  identity: Pick<Identity, 'sub' | 'email'>;
  role: Role;
  maxSessionSeconds: number | undefined;
}

interface UpgradeContext {
  gatewayRequestId: string;
  instanceId: string;
  clientIp: string;
  actor: Actor | null;
}

/** Returns the `upgrade` listener for the HTTP server. */
export function createUpgradeHandler(deps: UpgradeDeps): (req: IncomingMessage, socket: Duplex, head: Buffer) => void {
  const wss = new WebSocketServer({
    noServer: true,
    perMessageDeflate: false,
    maxPayload: deps.maxClientPayloadBytes ?? 64 * 1024,
    clientTracking: false,
    // Pick `binary` when offered and never echo the ticket entry back.
    handleProtocols: (protocols) => (protocols.has('binary') ? 'binary' : false),
  });

  const audit = (ctx: UpgradeContext, record: Record<string, unknown>): void => {
    deps.audit.record({
      actor: ctx.actor,
      instanceId: ctx.instanceId,
      clientIp: ctx.clientIp,
      gatewayRequestId: ctx.gatewayRequestId,
      ...record,
    } as Parameters<AuditLog['record']>[0]);
  };

  const deny = (ctx: UpgradeContext, error: GatewayError, stage: 'upgrade' | 'upstream', extra: Record<string, unknown> = {}): void => {
    if (error.code === 'rate_limited') {
      audit(ctx, { type: 'ratelimit.exceeded', scope: extra.scope ?? 'instance', retryAfter: error.retryAfterSeconds ?? 1 });
    }
    if (error.code === 'auth_invalid' || error.code === 'ticket_invalid' || error.code === 'auth_required') {
      audit(ctx, { type: 'auth.failed', code: error.code, source: extra.source ?? 'none' });
    }
    audit(ctx, {
      type: 'session.denied',
      code: error.code,
      stage,
      closeCode: error.closeCode,
      ...(error.requestId ? { tencentRequestId: error.requestId } : {}),
      ...(error.upstreamCode ? { tencentCode: error.upstreamCode } : {}),
    });
    deps.logger.info({ gatewayRequestId: ctx.gatewayRequestId, instanceId: ctx.instanceId, code: error.code, upstreamCode: error.upstreamCode, cause: describeCause(error) }, 'session refused');
  };

  return function onUpgrade(req, socket, head) {
    socket.on('error', () => undefined);
    const gatewayRequestId = randomUUID();
    const url = new URL(req.url ?? '/', 'http://gateway.invalid');
    const match = WS_PATH.exec(url.pathname);
    if (match === null) return refuseHttp(socket, 404, 'not_found');
    const instanceId = decodeSegment(match[1] ?? '');
    if (instanceId === undefined || !isInstanceId(instanceId)) return refuseHttp(socket, 400, 'instance_id_invalid');
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || req.headers['sec-websocket-version'] !== '13' || !WS_KEY.test(req.headers['sec-websocket-key'] ?? '')) {
      return refuseHttp(socket, 400, 'bad_request');
    }
    if (deps.isDraining()) return refuseHttp(socket, 503, 'shutting_down');

    const ctx: UpgradeContext = {
      gatewayRequestId,
      instanceId,
      clientIp: deps.clientIp(req.socket.remoteAddress, headerValue(req, 'x-forwarded-for')),
      actor: null,
    };
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    const ticketEntries = offered.filter((p) => p.startsWith(TICKET_PROTOCOL_PREFIX));
    const otherProtocols = offered.filter((p) => !p.startsWith(TICKET_PROTOCOL_PREFIX));
    const queryTicket = url.searchParams.get('ticket') ?? undefined;
    const ticket = ticketEntries[0]?.slice(TICKET_PROTOCOL_PREFIX.length) ?? queryTicket;
    const jwt = ticket === undefined ? deps.auth.findToken((name) => headerValue(req, name)) : undefined;
    const source: CredentialSource | 'none' = ticket !== undefined ? 'ticket' : (jwt?.source ?? 'none');

    if (ticketEntries.length > 1 || (ticketEntries.length === 1 && queryTicket !== undefined)) {
      return refuseHttp(socket, 400, 'bad_request', 'Present exactly one ticket.');
    }
    if (ticketEntries.length === 1 && otherProtocols.length === 0) {
      // The gateway never selects the ticket entry, and a client that offered protocols fails
      // the handshake when none is selected: say so instead of letting it fail obscurely.
      return refuseHttp(socket, 400, 'bad_request', "Offer the 'binary' subprotocol alongside the ticket.");
    }
    if (source === 'none') {
      audit(ctx, { type: 'auth.failed', code: 'auth_required', source: 'none' });
      return refuseHttp(socket, 401, 'auth_required');
    }
    try {
      deps.auth.checkOrigin(headerValue(req, 'origin'), source, headerValue(req, 'host'));
    } catch (error) {
      const refusal = error as GatewayError;
      audit(ctx, { type: 'session.denied', code: refusal.code, stage: 'upgrade', httpStatus: refusal.httpStatus });
      return refuseHttp(socket, refusal.httpStatus, refusal.code);
    }

    void (async () => {
      let authorized: Authorized;
      try {
        authorized = await authorize(ticket, jwt === undefined ? undefined : { token: jwt.token, source: jwt.source }, instanceId);
        ctx.actor = actorOf(authorized.identity);
        await deps.connectBudget.take(instanceId);
      } catch (error) {
        const refusal = asGatewayError(error, deps.logger);
        deny(ctx, refusal, 'upgrade', { source, scope: 'instance' });
        return acceptAndClose(req, socket, head, refusal);
      }
      if (deps.isDraining()) return acceptAndClose(req, socket, head, new GatewayError('shutting_down'));
      wss.handleUpgrade(req, socket, head, (client) => {
        void runSession(client, ctx, authorized, otherProtocols);
      });
    })();
  };

  async function authorize(ticket: string | undefined, jwt: { token: string; source: 'bearer' | 'header' | 'cookie' } | undefined, instanceId: string): Promise<Authorized> {
    let identity: Identity;
    if (ticket !== undefined) {
      const claims = await deps.tickets.redeem(ticket, instanceId);
      identity = { sub: claims.sub, groups: claims.groups, expiresAt: claims.tokenExpiresAt, ...(claims.email ? { email: claims.email } : {}) };
    } else if (jwt !== undefined) {
      identity = await deps.auth.verify(jwt);
    } else {
      throw new GatewayError('auth_required');
    }
    // The policy is decided again at upgrade time: a rule removed since the ticket was issued wins.
    const decision = decide(deps.policy(), identity, instanceId);
    if (!decision.allowed) throw new GatewayError('access_denied', { cause: new Error(decision.reason) });
    if (decision.role === 'viewer') {
      // View-only sessions need input filtering in the relay; until then, refuse rather than give control.
      throw new GatewayError('access_denied', { message: 'View-only access is not available yet; ask for operator access to this instance.' });
    }
    return { identity, role: decision.role, maxSessionSeconds: decision.maxSessionSeconds };
  }

  function acceptAndClose(req: IncomingMessage, socket: Duplex, head: Buffer, error: GatewayError): void {
    wss.handleUpgrade(req, socket, head, (client) => {
      client.on('error', () => undefined);
      client.close(error.closeCode, error.toCloseReason());
      setTimeout(() => client.terminate(), 5000).unref();
    });
  }

  async function runSession(client: WebSocket, ctx: UpgradeContext, authorized: Authorized, protocols: readonly string[]): Promise<void> {
    client.on('error', () => undefined);
    // Nothing is read from the client until the upstream is there to receive it.
    client.pause();
    let clientGone = false;
    const onEarlyClose = (): void => void (clientGone = true);
    client.once('close', onEarlyClose);

    let upstream: WebSocket;
    let tencentRequestId: string | undefined;
    try {
      await deps.apiBudget.take().catch((error: unknown) => {
        throw Object.assign(asGatewayError(error, deps.logger), { scope: 'api' });
      });
      if (clientGone) throw new GatewayError('bad_request', { message: 'client left during setup' });
      const vnc = await deps.vncUrl(ctx.instanceId);
      tencentRequestId = vnc.requestId;
      if (clientGone) throw new GatewayError('bad_request', { message: 'client left during setup' });
      upstream = await deps.connectUpstream(vnc.url, protocols);
    } catch (error) {
      const refusal = asGatewayError(error, deps.logger);
      const scope = (error as { scope?: string }).scope ?? 'instance';
      if (clientGone) {
        audit(ctx, { type: 'session.denied', code: 'client_left', stage: 'upstream', ...(tencentRequestId ? { tencentRequestId } : {}) });
      } else {
        deny(ctx, refusal, 'upstream', { scope });
        // A paused socket never reads the peer's close frame, so the handshake could not finish.
        client.resume();
        client.close(refusal.closeCode, refusal.toCloseReason());
      }
      return;
    }
    client.off('close', onEarlyClose);
    if (clientGone || client.readyState !== client.OPEN) {
      upstream.terminate();
      audit(ctx, { type: 'session.denied', code: 'client_left', stage: 'upstream', ...(tencentRequestId ? { tencentRequestId } : {}) });
      return;
    }

    const sessionId = randomUUID();
    const relay = new RelaySession(client, upstream, deps.relay);
    const startedAt = Date.now();
    deps.sessions.add({
      sessionId,
      sub: authorized.identity.sub,
      ...(authorized.identity.email ? { email: authorized.identity.email } : {}),
      instanceId: ctx.instanceId,
      clientIp: ctx.clientIp,
      startedAt,
      relay,
    });
    audit(ctx, { type: 'session.started', sessionId, role: authorized.role, ...(tencentRequestId ? { tencentRequestId } : {}) });
    deps.logger.info({ gatewayRequestId: ctx.gatewayRequestId, sessionId, instanceId: ctx.instanceId, sub: authorized.identity.sub }, 'session started');

    let durationTimer: NodeJS.Timeout | undefined;
    if (authorized.maxSessionSeconds !== undefined) {
      durationTimer = setTimeout(
        () => relay.close(4410, closeReason('max_duration', 'The session reached its maximum duration.'), 'gateway', 'max_duration'),
        authorized.maxSessionSeconds * 1000,
      );
      durationTimer.unref();
    }
    const result = await relay.done;
    if (durationTimer) clearTimeout(durationTimer);
    deps.sessions.remove(sessionId);
    audit(ctx, {
      type: 'session.ended',
      sessionId,
      durationMs: result.durationMs,
      bytesFromClient: result.bytesFromClient,
      bytesFromUpstream: result.bytesFromUpstream,
      closeCode: result.closeCode,
      closedBy: result.closedBy,
      reason: result.reason,
    });
    deps.logger.info({ gatewayRequestId: ctx.gatewayRequestId, sessionId, closeCode: result.closeCode, closedBy: result.closedBy, reason: result.reason }, 'session ended');
  }
}

function actorOf(identity: Pick<Identity, 'sub' | 'email'>): Actor {
  return identity.email ? { sub: identity.sub, email: identity.email } : { sub: identity.sub };
}

function asGatewayError(error: unknown, logger: Logger): GatewayError {
  if (isGatewayError(error)) return error;
  logger.error({ err: error }, 'unexpected error while opening a session');
  return new GatewayError('internal', { cause: error });
}

function describeCause(error: GatewayError): string | undefined {
  const cause = error.cause;
  return cause instanceof Error ? cause.message : undefined;
}

function headerValue(req: IncomingMessage, name: string): string | undefined {
  const value = req.headers[name];
  return Array.isArray(value) ? value[0] : value;
}

function decodeSegment(segment: string): string | undefined {
  try {
    return decodeURIComponent(segment);
  } catch {
    return undefined;
  }
}

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 503: 'Service Unavailable' };

function refuseHttp(socket: Duplex, status: number, code: string, message?: string): void {
  const error = new GatewayError(code as GatewayError['code'], message ? { message } : {});
  const body = JSON.stringify(error.toBody());
  if (socket.writable) {
    socket.once('finish', () => socket.destroy());
    socket.end(
      `HTTP/1.1 ${status} ${STATUS_TEXT[status] ?? 'Error'}\r\n` +
        'Connection: close\r\nContent-Type: application/json\r\nCache-Control: no-store\r\n' +
        `Content-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`,
    );
  } else {
    socket.destroy();
  }
}
