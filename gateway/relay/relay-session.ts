// One relayed console session: binary frames both ways between the user's WebSocket and the
// instance's upstream WebSocket, with backpressure, keepalive and exactly one end result.
// Knows nothing of JWTs, tickets or Tencent: it is handed two open sockets.
// Upstream→client frames are passed through verbatim (upstream-leg.ts): the relay takes the
// upstream socket over from ws and writes complete frames straight to the client's socket.

import type { Duplex } from 'node:stream';
import type { WebSocket } from 'ws';
import { ERROR_CATALOGUE, closeReason } from '../errors.js';
import { socketOf, takeOverUpstream, type UpstreamLeg } from './upstream-leg.js';

export type ClosedBy = 'client' | 'upstream' | 'gateway' | 'admin';

export interface RelayResult {
  bytesFromClient: number;
  bytesFromUpstream: number;
  /** The close code the session ended with, as the client saw or sent it. */
  closeCode: number;
  closedBy: ClosedBy;
  /** A short machine-readable reason, e.g. `client_closed`, `upstream_closed`, `text_frame`. */
  reason: string;
  durationMs: number;
}

export interface RelayOptions {
  /** Pause the sending side when the receiving side has more than this queued. */
  highWaterBytes?: number;
  /** Resume once the queue drains below this. */
  lowWaterBytes?: number;
  /** Ping both sides this often; a side that did not answer the previous ping is dead. 0 = off. */
  pingIntervalMs?: number;
  /** How long to wait for the second side's close handshake before dropping it. */
  closeTimeoutMs?: number;
  /** Close with 4408 when the client sent no data frame for this long (pongs do not count). 0 = off. */
  idleTimeoutMs?: number;
  /** Close with 4410 this long after the start. 0 = off. */
  maxDurationMs?: number;
  /** A client whose send queue stays above this many bytes for `slowConsumerMs` is cut off with 4413. */
  slowConsumerBytes?: number;
  slowConsumerMs?: number;
  now?: () => number;
}

/** Close codes the relay itself decides (README "WebSocket close codes"). */
export const RELAY_CLOSE = {
  idle: 4408,
  maxDuration: 4410,
  slowConsumer: 4413,
  upstreamFailed: 4502,
  upstreamTimeout: 4504,
  frameTooLarge: 1009,
  textFrame: 1003,
} as const;

// The close code ws sends for each receiver error (ws/lib/receiver.js); 1002 for the rest.
const WS_ERROR_CLOSE_CODES: Readonly<Record<string, number>> = {
  WS_ERR_INVALID_UTF8: 1007,
  WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: 1009,
  WS_ERR_UNSUPPORTED_DATA_PAYLOAD_LENGTH: 1009,
  WS_ERR_TOO_MANY_BUFFERED_PARTS: 1008,
};

function wsErrorCloseCode(code: string | undefined): number {
  return code !== undefined && Object.hasOwn(WS_ERROR_CLOSE_CODES, code) ? WS_ERROR_CLOSE_CODES[code]! : 1002;
}

// A code the gateway may send: never 1005/1006/1015 (RFC 6455 §7.4.1 reserves them).
function sendable(code: number): boolean {
  return code === 1000 || code === 1001 || (code >= 1002 && code <= 1003) || (code >= 1007 && code <= 1014) || (code >= 3000 && code <= 4999);
}

export class RelaySession {
  readonly done: Promise<RelayResult>;
  bytesFromClient = 0;
  bytesFromUpstream = 0;

  private readonly startedAt: number;
  private readonly now: () => number;
  private readonly high: number;
  private readonly low: number;
  private clientPaused = false;
  private upstreamPaused = false;
  private ending: Omit<RelayResult, 'durationMs' | 'bytesFromClient' | 'bytesFromUpstream'> | undefined;
  private resolveDone!: (result: RelayResult) => void;
  private clientClosed = false;
  private upstreamClosed = false;
  private pingTimer: NodeJS.Timeout | undefined;
  private closeTimer: NodeJS.Timeout | undefined;
  private clientAlive = true;
  private upstreamAlive = true;
  private readonly closeTimeoutMs: number;
  private readonly idleTimeoutMs: number;
  private readonly slowConsumerBytes: number;
  private readonly slowConsumerMs: number;
  private lastClientDataAt: number;
  private idleTimer: NodeJS.Timeout | undefined;
  private durationTimer: NodeJS.Timeout | undefined;
  private slowTimer: NodeJS.Timeout | undefined;
  /** When the client's queue last rose above the slow-consumer bound; undefined while below. */
  private slowSince: number | undefined;
  /** The upstream connection, spoken frame by frame once ws has opened it. */
  private readonly upstream: UpstreamLeg;
  /** The client's socket, for upstream frames written as received. */
  private readonly clientSocket: Duplex;

  constructor(
    private readonly client: WebSocket,
    upstreamSocket: WebSocket,
    options: RelayOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.high = options.highWaterBytes ?? 1024 * 1024;
    this.low = options.lowWaterBytes ?? 256 * 1024;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.idleTimeoutMs = options.idleTimeoutMs ?? 0;
    this.slowConsumerBytes = options.slowConsumerBytes ?? 512 * 1024;
    this.slowConsumerMs = options.slowConsumerMs ?? 30_000;
    this.lastClientDataAt = this.startedAt;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));

    const clientSocket = socketOf(client);
    if (clientSocket === undefined) throw new Error('client WebSocket has no socket');
    this.clientSocket = clientSocket;
    client.on('message', this.fromClient);
    client.on('close', (code: number) => {
      this.clientClosed = true;
      this.end({ closeCode: code, closedBy: 'client', reason: 'client_closed' }, 1000, 'client closed');
    });
    const onUpstreamClose = (code: number): void => {
      this.upstreamClosed = true;
      // 1005: a close frame without a status code, still a completed close handshake.
      const clean = code === 1000 || code === 1001 || code === 1005;
      this.end(
        { closeCode: clean ? 1000 : 4502, closedBy: 'upstream', reason: clean ? 'upstream_closed' : `upstream_closed_${code}` },
        clean ? 1000 : 4502,
        clean ? closeReason('upstream_closed', 'The instance console closed the connection.') : closeReason('upstream_failed', 'The console connection to the instance failed.'),
      );
    };
    // 'error' is always followed by 'close'. ws has already answered a protocol error with its
    // own close frame (1009 for an oversized frame, 1007 for invalid UTF-8, 1002 mostly); record
    // that code, the one the client saw, and why the session ended.
    client.on('error', (error: Error & { code?: string }) => {
      const sentCode = wsErrorCloseCode(error.code);
      const tooLarge = sentCode === RELAY_CLOSE.frameTooLarge;
      this.end(
        { closeCode: sentCode, closedBy: 'gateway', reason: tooLarge ? 'client_frame_too_large' : 'client_protocol_error' },
        1002,
        closeReason('bad_request', 'The client broke the WebSocket protocol.'),
      );
    });
    // The upstream leg has already answered a protocol error with its own close (1009 for an
    // oversized message, 1002 mostly), as ws did before the takeover.
    const onUpstreamProtocolError = (closeCode: number): void => {
      const tooLarge = closeCode === RELAY_CLOSE.frameTooLarge;
      this.end(
        { closeCode: RELAY_CLOSE.upstreamFailed, closedBy: 'upstream', reason: tooLarge ? 'upstream_frame_too_large' : 'upstream_protocol_error' },
        RELAY_CLOSE.upstreamFailed,
        closeReason('upstream_failed', 'The console connection to the instance failed.'),
      );
    };
    client.on('pong', () => (this.clientAlive = true));
    this.upstream = takeOverUpstream(upstreamSocket, {
      onFrames: this.fromUpstream,
      onText: () =>
        this.end({ closeCode: 4502, closedBy: 'upstream', reason: 'upstream_text_frame' }, 4502, closeReason('upstream_failed', 'The instance console sent an unexpected frame.'), 1000),
      onPong: () => (this.upstreamAlive = true),
      onProtocolError: onUpstreamProtocolError,
      onClose: onUpstreamClose,
    });

    if ((options.pingIntervalMs ?? 30_000) > 0) {
      this.pingTimer = setInterval(this.keepalive, options.pingIntervalMs ?? 30_000);
      this.pingTimer.unref();
    }
    if (this.idleTimeoutMs > 0) this.armIdle(this.idleTimeoutMs);
    if ((options.maxDurationMs ?? 0) > 0) {
      this.durationTimer = setTimeout(
        () => this.end({ closeCode: RELAY_CLOSE.maxDuration, closedBy: 'gateway', reason: 'max_duration' }, RELAY_CLOSE.maxDuration, closeReason('max_duration', ERROR_CATALOGUE.max_duration.message), 1000),
        options.maxDurationMs,
      );
      this.durationTimer.unref();
    }
    // Both sides were paused while the upstream connected; frames flow from here on.
    client.resume();
    this.upstream.resume();
  }

  /** Ends the session from the gateway's side (shutdown 1001, admin 4410, limits). */
  close(code: number, reason: string, closedBy: ClosedBy = 'gateway', reasonTag = 'gateway_closed'): void {
    this.end({ closeCode: code, closedBy, reason: reasonTag }, code, reason, 1000);
  }

  /** Which side is paused for backpressure right now (tests and the bench read this). */
  get paused(): { client: boolean; upstream: boolean } {
    return { client: this.clientPaused, upstream: this.upstreamPaused };
  }

  private readonly fromClient = (data: Buffer, isBinary: boolean): void => {
    if (!isBinary) {
      this.end({ closeCode: 1003, closedBy: 'gateway', reason: 'text_frame' }, 1003, closeReason('bad_request', 'Text frames are not accepted.'), 1000);
      return;
    }
    this.lastClientDataAt = this.now();
    this.clientAlive = true;
    this.bytesFromClient += data.length;
    this.upstream.send(data, this.afterUpstreamWrite);
    if (!this.clientPaused && this.upstream.bufferedAmount > this.high) {
      this.clientPaused = true;
      this.client.pause();
    }
  };

  // Complete upstream frames, written as received in one batch (one writev); the write callback
  // rides on the last piece only.
  private readonly fromUpstream = (pieces: Buffer[], payloadBytes: number): void => {
    // Once ws has answered (or sent) a close frame, nothing may follow it on the client's wire.
    if (this.ending !== undefined || this.client.readyState !== this.client.OPEN) return;
    this.upstreamAlive = true;
    this.bytesFromUpstream += payloadBytes;
    const socket = this.clientSocket;
    const last = pieces.length - 1;
    if (last > 0) socket.cork();
    for (let i = 0; i < last; i++) socket.write(pieces[i]!);
    socket.write(pieces[last]!, this.afterClientWrite);
    if (last > 0) socket.uncork();
    const queued = this.client.bufferedAmount;
    if (queued > this.slowConsumerBytes && this.slowSince === undefined) this.startSlowClock();
    if (!this.upstreamPaused && queued > this.high) {
      this.upstreamPaused = true;
      this.upstream.pause();
    }
  };

  // Write callbacks run once the frame reached the kernel; the last one of a burst sees the queue empty.
  private readonly afterUpstreamWrite = (): void => {
    if (this.clientPaused && this.upstream.bufferedAmount <= this.low && this.ending === undefined) {
      this.clientPaused = false;
      // Its pong may be among the bytes not read while paused: it gets this round.
      this.clientAlive = true;
      this.client.resume();
    }
  };

  private readonly afterClientWrite = (): void => {
    if (this.slowSince !== undefined && this.client.bufferedAmount <= this.slowConsumerBytes) this.slowSince = undefined;
    if (this.upstreamPaused && this.client.bufferedAmount <= this.low && this.ending === undefined) {
      this.upstreamPaused = false;
      this.upstreamAlive = true;
      this.upstream.resume();
    }
  };

  // The clock starts when the queue first rises above the bound and stops whenever a write
  // callback sees it below; one timer per episode, re-armed for the remainder, none per frame.
  private startSlowClock(): void {
    this.slowSince = this.now();
    if (this.slowTimer === undefined && this.ending === undefined) this.armSlow(this.slowConsumerMs);
  }

  private armSlow(ms: number): void {
    this.slowTimer = setTimeout(() => {
      this.slowTimer = undefined;
      if (this.slowSince === undefined || this.ending !== undefined) return;
      const elapsed = this.now() - this.slowSince;
      if (elapsed >= this.slowConsumerMs && this.client.bufferedAmount > this.slowConsumerBytes) {
        // The close frame queues behind the unread data; a client that never reads it is dropped
        // by the close timeout, so the queue is bounded in time as well as in size.
        this.end({ closeCode: RELAY_CLOSE.slowConsumer, closedBy: 'gateway', reason: 'slow_consumer' }, RELAY_CLOSE.slowConsumer, closeReason('slow_consumer', ERROR_CATALOGUE.slow_consumer.message), 1000);
        return;
      }
      this.armSlow(Math.max(1, this.slowConsumerMs - elapsed));
    }, ms);
    this.slowTimer.unref();
  }

  private armIdle(ms: number): void {
    this.idleTimer = setTimeout(() => {
      const idleFor = this.now() - this.lastClientDataAt;
      if (idleFor >= this.idleTimeoutMs) {
        this.end({ closeCode: RELAY_CLOSE.idle, closedBy: 'gateway', reason: 'idle_timeout' }, RELAY_CLOSE.idle, closeReason('idle_timeout', ERROR_CATALOGUE.idle_timeout.message), 1000);
        return;
      }
      this.armIdle(this.idleTimeoutMs - idleFor);
    }, ms);
    this.idleTimer.unref();
  }

  // A side the relay paused for backpressure is not read, so its pong may sit unread: it is not
  // judged while paused. A stall is still caught: by the other side's keepalive (the upstream
  // that stopped reading stops answering pings) or by the slow-consumer bound (the client).
  // Data received from a side counts as an answer too.
  private readonly keepalive = (): void => {
    if (!this.clientAlive && !this.clientPaused) {
      // A dead client cannot receive a close frame; the upstream is told normally.
      this.end({ closeCode: 1006, closedBy: 'gateway', reason: 'client_keepalive_timeout' }, 1000, '', 1000);
      this.client.terminate();
      return;
    }
    if (!this.upstreamAlive && !this.upstreamPaused) {
      this.end(
        { closeCode: RELAY_CLOSE.upstreamTimeout, closedBy: 'gateway', reason: 'upstream_keepalive_timeout' },
        RELAY_CLOSE.upstreamTimeout,
        closeReason('upstream_timeout', 'The instance console stopped answering.'),
        1000,
      );
      this.upstream.terminate();
      return;
    }
    this.clientAlive = false;
    this.upstreamAlive = false;
    this.safe(() => this.client.ping());
    this.safe(() => this.upstream.ping());
  };

  /**
   * Records how the session ended (first caller wins), closes whichever side is still open,
   * and resolves `done` once both sides are closed or the close timeout passed.
   */
  private end(
    outcome: Omit<RelayResult, 'durationMs' | 'bytesFromClient' | 'bytesFromUpstream'>,
    clientCode: number,
    clientReason: string,
    upstreamCode = 1000,
  ): void {
    if (this.ending === undefined) {
      this.ending = outcome;
      if (this.pingTimer) clearInterval(this.pingTimer);
      if (this.idleTimer) clearTimeout(this.idleTimer);
      if (this.durationTimer) clearTimeout(this.durationTimer);
      if (this.slowTimer) clearTimeout(this.slowTimer);
      this.client.off('message', this.fromClient);
      // A side paused for backpressure must read again, or its close frame is never seen.
      this.client.resume();
      this.upstream.resume();
      if (!this.clientClosed) this.safe(() => this.client.close(sendable(clientCode) ? clientCode : 1000, clientReason));
      if (!this.upstreamClosed) this.safe(() => this.upstream.close(upstreamCode));
      this.closeTimer = setTimeout(() => {
        this.client.terminate();
        this.upstream.terminate();
        this.finish();
      }, this.closeTimeoutMs);
      this.closeTimer.unref();
    }
    if (this.clientClosed && this.upstreamClosed) this.finish();
  }

  private finish(): void {
    if (this.closeTimer) clearTimeout(this.closeTimer);
    const ending = this.ending;
    if (ending === undefined) return;
    this.resolveDone({
      ...ending,
      bytesFromClient: this.bytesFromClient,
      bytesFromUpstream: this.bytesFromUpstream,
      durationMs: this.now() - this.startedAt,
    });
  }

  private safe(action: () => void): void {
    try {
      action();
    } catch {
      // A socket that is already closing refuses close/ping; its 'close' event still arrives.
    }
  }
}
