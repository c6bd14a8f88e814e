// One relayed console session: binary frames both ways between the user's WebSocket and the
// instance's upstream WebSocket, with backpressure, keepalive and exactly one end result.
// Knows nothing of JWTs, tickets or Tencent: it is handed two open sockets.

import type { WebSocket } from 'ws';
import { closeReason } from '../errors.js';

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
  now?: () => number;
}

const BINARY = { binary: true } as const;

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

  constructor(
    private readonly client: WebSocket,
    private readonly upstream: WebSocket,
    options: RelayOptions = {},
  ) {
    this.now = options.now ?? Date.now;
    this.startedAt = this.now();
    this.high = options.highWaterBytes ?? 1024 * 1024;
    this.low = options.lowWaterBytes ?? 256 * 1024;
    this.closeTimeoutMs = options.closeTimeoutMs ?? 5000;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));

    client.on('message', this.fromClient);
    upstream.on('message', this.fromUpstream);
    client.on('close', (code: number) => {
      this.clientClosed = true;
      this.end({ closeCode: code, closedBy: 'client', reason: 'client_closed' }, 1000, 'client closed');
    });
    upstream.on('close', (code: number) => {
      this.upstreamClosed = true;
      const clean = code === 1000 || code === 1001;
      this.end(
        { closeCode: clean ? 1000 : 4502, closedBy: 'upstream', reason: clean ? 'upstream_closed' : `upstream_closed_${code}` },
        clean ? 1000 : 4502,
        clean ? closeReason('upstream_closed', 'The instance console closed the connection.') : closeReason('upstream_failed', 'The console connection to the instance failed.'),
      );
    });
    // 'error' is always followed by 'close'; the listeners keep it from being thrown.
    client.on('error', () => undefined);
    upstream.on('error', () => undefined);
    client.on('pong', () => (this.clientAlive = true));
    upstream.on('pong', () => (this.upstreamAlive = true));

    if ((options.pingIntervalMs ?? 30_000) > 0) {
      this.pingTimer = setInterval(this.keepalive, options.pingIntervalMs ?? 30_000);
      this.pingTimer.unref();
    }
    // Both sides were paused while the upstream connected; frames flow from here on.
    client.resume();
    upstream.resume();
  }

  /** Ends the session from the gateway's side (shutdown 1001, admin 4410, limits). */
  close(code: number, reason: string, closedBy: ClosedBy = 'gateway', reasonTag = 'gateway_closed'): void {
    this.end({ closeCode: code, closedBy, reason: reasonTag }, code, reason, 1000);
  }

  private readonly fromClient = (data: Buffer, isBinary: boolean): void => {
    if (!isBinary) {
      this.end({ closeCode: 1003, closedBy: 'gateway', reason: 'text_frame' }, 1003, closeReason('bad_request', 'Text frames are not accepted.'), 1000);
      return;
    }
    this.bytesFromClient += data.length;
    this.upstream.send(data, BINARY, this.afterUpstreamWrite);
    if (!this.clientPaused && this.upstream.bufferedAmount > this.high) {
      this.clientPaused = true;
      this.client.pause();
    }
  };

  private readonly fromUpstream = (data: Buffer, isBinary: boolean): void => {
    if (!isBinary) {
      this.end({ closeCode: 4502, closedBy: 'upstream', reason: 'upstream_text_frame' }, 4502, closeReason('upstream_failed', 'The instance console sent an unexpected frame.'), 1000);
      return;
    }
    this.bytesFromUpstream += data.length;
    this.client.send(data, BINARY, this.afterClientWrite);
    if (!this.upstreamPaused && this.client.bufferedAmount > this.high) {
      this.upstreamPaused = true;
      this.upstream.pause();
    }
  };

  // Write callbacks run once the frame reached the kernel; the last one of a burst sees the queue empty.
  private readonly afterUpstreamWrite = (): void => {
    if (this.clientPaused && this.upstream.bufferedAmount <= this.low && this.ending === undefined) {
      this.clientPaused = false;
      this.client.resume();
    }
  };

  private readonly afterClientWrite = (): void => {
    if (this.upstreamPaused && this.client.bufferedAmount <= this.low && this.ending === undefined) {
      this.upstreamPaused = false;
      this.upstream.resume();
    }
  };

  private readonly keepalive = (): void => {
    if (!this.clientAlive) {
      this.client.terminate();
      return;
    }
    if (!this.upstreamAlive) {
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
      this.client.off('message', this.fromClient);
      this.upstream.off('message', this.fromUpstream);
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
