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
import type { Actor, AuditInputWithout, RateLimitExceeded } from './audit/audit-events.js';
import type { AuthFailureGuard } from './auth-failure-guard.js';
import type { ClientIpResolver } from './client-ip.js';
import { GatewayError, closeReason, isGatewayError } from './errors.js';
import type { InstanceConnectBudget } from './limits/instance-connect-budget.js';
import { limitScopeOf, type SessionAdmission } from './limits/session-admission.js';
import type { SessionLease } from './sessions/fleet-sessions.js';
import type { Logger } from './logger.js';
import { RelaySession, type RelayOptions } from './relay/relay-session.js';
import type { SetupTracker } from './relay/drain-sessions.js';
import type { RequestAuthenticator, CredentialSource } from './request-auth.js';
import type { SessionRegistry } from './sessions/session-registry.js';
import { isInstanceId } from './tencent/products.js';
import { isRegionName } from './tencent/regions.js';
import type { VncUrl } from './tencent/vnc-url.js';

export const TICKET_PROTOCOL_PREFIX = 'vnc-gateway.ticket.';
const WS_PATH = /^\/ws\/instances\/([^/]+)$/;
// RFC 6455 §4.2.1: a base64-encoded 16-byte nonce, version 13.
const WS_KEY = /^[+/0-9A-Za-z]{22}==$/;

export interface UpgradeDeps {
  auth: RequestAuthenticator;
  tickets: TicketService;
  policy: () => Policy;
  /** Per-IP brake on failed authentications; absent = none. */
  authFailures?: AuthFailureGuard;
  /** AUTH_END_SESSION_AT_EXPIRY: end the session (4401) when the token that opened it expires. */
  endSessionAtExpiry?: boolean;
  connectBudget: InstanceConnectBudget;
  /** Concurrency leases, user starts and the instance budget (limits/session-admission.ts); absent = connectBudget alone. */
  admission?: SessionAdmission;
  /**
   * DescribeInstanceVncUrl for this instance, pinned to the upstream allowlist: picks the
   * account and region, spends the account's API budget per attempt and retries transient
   * errors (tencent/vnc-url-service.ts). `stillWanted` turns false when the client has left.
   */
  vncUrl: (instanceId: string, request: { region?: string; stillWanted: () => boolean }) => Promise<VncUrl>;
  /** Opens the upstream socket (paused) offering these subprotocols. */
  connectUpstream: (url: URL, protocols: readonly string[]) => Promise<WebSocket>;
  audit: AuditLog;
  logger: Logger;
  sessions: SessionRegistry;
  clientIp: ClientIpResolver;
  isDraining: () => boolean;
  /** Counts sessions between accept and relaying, so a shutdown drain waits for them. */
  setups?: SetupTracker;
  relay?: RelayOptions;
  /** Largest frame a client may send (RFB input messages are tiny). */
  maxClientPayloadBytes?: number;
}

interface Authorized {
  identity: Pick<Identity, 'sub' | 'email'>;
  role: Role;
  maxSessionSeconds: number | undefined;
  /** The rule's maxConcurrentSessions for the instance (1 = exclusive). */
  maxConcurrentSessions?: number;
  /** `exp` of the JWT behind the session (through the ticket), seconds since the epoch. */
  tokenExpiresAt: number;
  /** The region asked for: the ticket's (console `?region=`), or `?region=` on a JWT upgrade. */
  region?: string;
}

interface UpgradeContext {
  gatewayRequestId: string;
  instanceId: string;
  clientIp: string;
  actor: Actor | null;
  /** When the upgrade request arrived (ms), for the session's setup time. */
  upgradeAt: number;
  /** The session's concurrency lease, from admission until the session ends. */
  lease?: SessionLease;
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

  // Typed per record type, so the compiler checks every field that goes into the trail.
  const audit = (ctx: UpgradeContext, record: AuditInputWithout<'actor' | 'instanceId' | 'clientIp' | 'gatewayRequestId'>): void => {
    deps.audit.record({
      ...record,
      actor: ctx.actor,
      instanceId: ctx.instanceId,
      clientIp: ctx.clientIp,
      gatewayRequestId: ctx.gatewayRequestId,
    });
  };

  const deny = (ctx: UpgradeContext, error: GatewayError, stage: 'upgrade' | 'upstream', extra: { scope?: RateLimitExceeded['scope']; source?: string } = {}): void => {
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
    // RFC 6455 §4.1: the opening handshake is a GET; refused here, before any credential is spent.
    if (req.method !== 'GET') return refuseHttp(socket, 405, 'bad_request', 'A WebSocket upgrade must be a GET request.');
    if (req.headers.upgrade?.toLowerCase() !== 'websocket' || req.headers['sec-websocket-version'] !== '13' || !WS_KEY.test(req.headers['sec-websocket-key'] ?? '')) {
      return refuseHttp(socket, 400, 'bad_request');
    }
    if (deps.isDraining()) return refuseHttp(socket, 503, 'shutting_down');

    const ctx: UpgradeContext = {
      gatewayRequestId,
      instanceId,
      clientIp: deps.clientIp(req.socket.remoteAddress, headerValue(req, 'x-forwarded-for')),
      actor: null,
      upgradeAt: Date.now(),
    };
    const offered = (req.headers['sec-websocket-protocol'] ?? '').split(',').map((p) => p.trim()).filter((p) => p !== '');
    const ticketEntries = offered.filter((p) => p.startsWith(TICKET_PROTOCOL_PREFIX));
    const otherProtocols = offered.filter((p) => !p.startsWith(TICKET_PROTOCOL_PREFIX));
    const queryTicket = url.searchParams.get('ticket') ?? undefined;
    const queryRegion = url.searchParams.get('region') ?? undefined;
    if (queryRegion !== undefined && !isRegionName(queryRegion)) return refuseHttp(socket, 400, 'bad_request', 'region is not a region name like ap-guangzhou.');
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
    try {
      // An address past AUTH_FAILURES_PER_MINUTE is refused before any verification work.
      deps.authFailures?.check(ctx.clientIp);
    } catch (error) {
      const refusal = error as GatewayError;
      deny(ctx, refusal, 'upgrade', { scope: 'auth' });
      return acceptAndClose(req, socket, head, refusal);
    }
    if (source === 'none') {
      audit(ctx, { type: 'auth.failed', code: 'auth_required', source: 'none' });
      return refuseHttp(socket, 401, 'auth_required');
    }
    try {
      deps.auth.checkOrigin(headerValue(req, 'origin'), source, headerValue(req, 'host'), { socket: req.socket, forwardedProto: headerValue(req, 'x-forwarded-proto') });
    } catch (error) {
      const refusal = error as GatewayError;
      audit(ctx, { type: 'session.denied', code: refusal.code, stage: 'upgrade', httpStatus: refusal.httpStatus });
      return refuseHttp(socket, refusal.httpStatus, refusal.code);
    }

    void (async () => {
      let authorized: Authorized;
      try {
        authorized = await authorize(ticket, jwt === undefined ? undefined : { token: jwt.token, source: jwt.source }, instanceId);
        // A ticket's region was checked when it was issued and wins over the query.
        if (authorized.region === undefined && queryRegion !== undefined) authorized.region = queryRegion;
        ctx.actor = actorOf(authorized.identity);
        // A session the trail cannot record is refused (4503) unless AUDIT_ON_FAILURE=continue.
        deps.audit.ensureWritable();
        if (deps.admission) {
          const { sub, email } = authorized.identity;
          ctx.lease = await deps.admission.admit({ sub, ...(email ? { email } : {}), instanceId, clientIp: ctx.clientIp, ...(authorized.maxConcurrentSessions === undefined ? {} : { maxInstanceSessions: authorized.maxConcurrentSessions }) });
        } else await deps.connectBudget.take(instanceId);
      } catch (error) {
        const refusal = asGatewayError(error, deps.logger);
        const limited = refusal.code === 'auth_invalid' || refusal.code === 'ticket_invalid' ? await deps.authFailures?.recordFailure(ctx.clientIp) : undefined;
        if (limited !== undefined) {
          // Past the per-IP threshold the answer is 4429, so a guesser learns nothing more.
          audit(ctx, { type: 'auth.failed', code: refusal.code, source });
          deny(ctx, limited, 'upgrade', { source, scope: 'auth' });
          return acceptAndClose(req, socket, head, limited);
        }
        deny(ctx, refusal, 'upgrade', { source, scope: limitScopeOf(error) ?? 'instance' });
        return acceptAndClose(req, socket, head, refusal);
      }
      if (deps.isDraining()) {
        ctx.lease?.release();
        return acceptAndClose(req, socket, head, new GatewayError('shutting_down'));
      }
      const clientLeft = !socket.readable || !socket.writable;
      let accepted = false;
      wss.handleUpgrade(req, socket, head, (client) => {
        accepted = true;
        // A shutdown waits for sessions in setup as well as live ones.
        const setup = deps.setups?.begin();
        void runSession(client, ctx, authorized, otherProtocols, setup)
          .catch((error: unknown) => {
            // An unhandled rejection would end the process; the lease must not outlive the session.
            deps.logger.error({ err: error, gatewayRequestId: ctx.gatewayRequestId, instanceId: ctx.instanceId }, 'session setup failed unexpectedly');
            ctx.lease?.release();
            client.terminate();
          })
          .finally(() => setup?.end());
      });
      if (!accepted) {
        // ws answers some handshakes itself (a method other than GET, a malformed or repeated
        // Sec-WebSocket-Protocol) and drops a socket the client closed during the checks above,
        // without calling back (synchronously, since there is no verifyClient): free the lease.
        ctx.lease?.release();
        audit(ctx, { type: 'session.denied', code: clientLeft ? 'client_left' : 'bad_request', stage: 'upgrade' });
      }
    })();
  };

  async function authorize(ticket: string | undefined, jwt: { token: string; source: 'bearer' | 'header' | 'cookie' } | undefined, instanceId: string): Promise<Authorized> {
    let identity: Identity;
    let region: string | undefined;
    if (ticket !== undefined) {
      const claims = await deps.tickets.redeem(ticket, instanceId);
      region = claims.region;
      identity = { sub: claims.sub, groups: claims.groups, expiresAt: claims.tokenExpiresAt, ...(claims.email ? { email: claims.email } : {}) };
    } else if (jwt !== undefined) {
      identity = await deps.auth.verify(jwt);
    } else {
      throw new GatewayError('auth_required');
    }
    if (deps.endSessionAtExpiry === true && identity.expiresAt * 1000 <= Date.now()) {
      // Within the clock tolerance a just-expired token still verifies; such a session would end at once.
      throw new GatewayError('auth_invalid', { cause: new Error('the token behind this session has expired') });
    }
    // The policy is decided again at upgrade time: a rule removed since the ticket was issued wins.
    const decision = decide(deps.policy(), identity, instanceId);
    if (!decision.allowed) throw new GatewayError('access_denied', { cause: new Error(decision.reason) });
    if (decision.role === 'viewer') {
      // View-only sessions need input filtering in the relay; until then, refuse rather than give control.
      throw new GatewayError('access_denied', { message: 'View-only access is not available yet; ask for operator access to this instance.' });
    }
    return { identity, role: decision.role, maxSessionSeconds: decision.maxSessionSeconds, ...(decision.maxConcurrentSessions === undefined ? {} : { maxConcurrentSessions: decision.maxConcurrentSessions }), tokenExpiresAt: identity.expiresAt, ...(region === undefined ? {} : { region }) };
  }

  function acceptAndClose(req: IncomingMessage, socket: Duplex, head: Buffer, error: GatewayError): void {
    wss.handleUpgrade(req, socket, head, (client) => {
      client.on('error', () => undefined);
      client.close(error.closeCode, error.toCloseReason());
      setTimeout(() => client.terminate(), 5000).unref();
    });
  }

  async function runSession(client: WebSocket, ctx: UpgradeContext, authorized: Authorized, protocols: readonly string[], setup?: { end(): void }): Promise<void> {
    client.on('error', () => undefined);
    // Nothing is read from the client until the upstream is there to receive it.
    client.pause();
    let clientGone = false;
    const onEarlyClose = (): void => void (clientGone = true);
    client.once('close', onEarlyClose);

    let upstream: WebSocket;
    let tencentRequestId: string | undefined;
    try {
      // The API budget is spent inside, once per attempt; the URL comes last so the dial follows at once.
      const vnc = await deps.vncUrl(ctx.instanceId, { ...(authorized.region ? { region: authorized.region } : {}), stillWanted: () => !clientGone });
      tencentRequestId = vnc.requestId;
      if (clientGone) throw new GatewayError('bad_request', { message: 'client left during setup' });
      upstream = await deps.connectUpstream(vnc.url, protocols);
    } catch (error) {
      const refusal = asGatewayError(error, deps.logger);
      const scope = (error as { scope?: RateLimitExceeded['scope'] }).scope ?? 'instance';
      if (clientGone) {
        audit(ctx, { type: 'session.denied', code: 'client_left', stage: 'upstream', ...(tencentRequestId ? { tencentRequestId } : {}) });
      } else {
        deny(ctx, refusal, 'upstream', { scope });
        // A paused socket never reads the peer's close frame, so the handshake could not finish.
        client.resume();
        client.close(refusal.closeCode, refusal.toCloseReason());
      }
      ctx.lease?.release();
      return;
    }
    client.off('close', onEarlyClose);
    if (clientGone || client.readyState !== client.OPEN) {
      upstream.terminate();
      audit(ctx, { type: 'session.denied', code: 'client_left', stage: 'upstream', ...(tencentRequestId ? { tencentRequestId } : {}) });
      ctx.lease?.release();
      return;
    }

    const sessionId = ctx.lease?.sessionId ?? randomUUID();
    // The shorter of the configured maximum and the policy rule's maxSessionSeconds (4410).
    const relay = new RelaySession(client, upstream, { ...deps.relay, maxDurationMs: maxDurationMs(deps.relay?.maxDurationMs, authorized.maxSessionSeconds) });
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
    setup?.end();
    audit(ctx, { type: 'session.started', sessionId, role: authorized.role, setupMs: startedAt - ctx.upgradeAt, ...(tencentRequestId ? { tencentRequestId } : {}) });
    deps.logger.info({ gatewayRequestId: ctx.gatewayRequestId, sessionId, instanceId: ctx.instanceId, sub: authorized.identity.sub }, 'session started');

    const stopExpiryTimer = deps.endSessionAtExpiry === true
      ? endAtTokenExpiry(authorized.tokenExpiresAt, () =>
          relay.close(4401, closeReason('auth_invalid', 'Your sign-in expired; sign in again to reconnect.'), 'gateway', 'token_expired'))
      : undefined;
    const result = await relay.done;
    stopExpiryTimer?.();
    deps.sessions.remove(sessionId);
    ctx.lease?.release();
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

// setTimeout fires at once for delays past 2^31-1 ms (~24.8 days): re-arm until the time.
const MAX_TIMER_MS = 2 ** 31 - 1;

/** Calls `end` when `expiresAtSeconds` (a JWT `exp`) is reached; returns the cancel function. */
function endAtTokenExpiry(expiresAtSeconds: number, end: () => void): () => void {
  let timer: NodeJS.Timeout;
  const arm = (): void => {
    const left = expiresAtSeconds * 1000 - Date.now();
    if (left <= 0) return end();
    timer = setTimeout(arm, Math.min(left, MAX_TIMER_MS));
    timer.unref();
  };
  arm();
  return () => clearTimeout(timer);
}

/** Milliseconds until a session must end (0 = never): the smaller of config and policy. */
export function maxDurationMs(configMs: number | undefined, policySeconds: number | undefined): number {
  const limits = [configMs ?? 0, (policySeconds ?? 0) * 1000].filter((ms) => ms > 0);
  return limits.length === 0 ? 0 : Math.min(...limits);
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

const STATUS_TEXT: Readonly<Record<number, string>> = { 400: 'Bad Request', 401: 'Unauthorized', 403: 'Forbidden', 404: 'Not Found', 405: 'Method Not Allowed', 503: 'Service Unavailable' };

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
