// One soak client session: opens a console session (ticket or bearer JWT), sends
// sequence-numbered payloads and checks that every echoed byte comes back in order, and can be
// told to misbehave (vanish, stop reading, go idle). It records how the session opened and
// ended, and the time by which it must have ended; the soak's watchdog counts it as hung if not.

import { createHash } from 'node:crypto';
import { WebSocket } from 'ws';

/** How an attempt turned out. */
export type Outcome =
  | { kind: 'refused'; reason: string }
  | { kind: 'relayed'; endedBy: string; closeCode: number }
  | { kind: 'hung'; stage: 'setup' | 'session'; detail: string };

export interface SessionTarget {
  /** `ws://127.0.0.1:port` of the replica. */
  wsUrl: string;
  /** `http://127.0.0.1:port` of the replica (ticket calls). */
  url: string;
  instanceId: string;
  token: string;
  useTicket: boolean;
  /** When the client closes on its own (ms since the epoch). */
  plannedEndAt: number;
  seed: number;
}

export interface SessionBounds {
  /** The longest an attempt may take to open or be refused. */
  setupMs: number;
  /** How long a close handshake may take once either side closed. */
  closeMs: number;
}

const HEADER_BYTES = 12;

/** Payload `seq` of a session: a header (seed, seq, length) and bytes derived from them, so any change shows. */
export function payload(seed: number, seq: number, length: number): Buffer {
  const body = Buffer.alloc(HEADER_BYTES + length);
  body.writeUInt32BE(seed >>> 0, 0);
  body.writeUInt32BE(seq >>> 0, 4);
  body.writeUInt32BE(length, 8);
  let filled = HEADER_BYTES;
  for (let block = 0; filled < body.length; block++) {
    const digest = createHash('sha256').update(`${seed}:${seq}:${block}`).digest();
    filled += digest.copy(body, filled);
  }
  return body;
}

/** A live soak session the fault injector can act on. */
export class SoakSession {
  readonly startedAt = Date.now();
  relayedAt: number | undefined;
  /** The session must have ended by then; a fault moves it. */
  mustEndBy: number;
  /** Payloads sent and not yet echoed, oldest first. */
  private readonly pending: Buffer[] = [];
  private seq = 0;
  bytesSent = 0;
  bytesVerified = 0;
  /** Echoed frames that differed from the next expected one (reordered, altered, or unexpected). */
  mismatches = 0;
  fault: string | undefined;
  private ws: WebSocket | undefined;
  private sendTimer: NodeJS.Timeout | undefined;
  private ended = false;
  private sending = true;
  readonly done: Promise<Outcome>;
  private resolveDone!: (outcome: Outcome) => void;

  constructor(
    readonly target: SessionTarget,
    private readonly bounds: SessionBounds,
    private readonly random: () => number,
  ) {
    this.mustEndBy = this.startedAt + bounds.setupMs;
    this.done = new Promise((resolve) => (this.resolveDone = resolve));
    void this.open();
  }

  get live(): boolean {
    return this.relayedAt !== undefined && !this.ended;
  }

  private finish(outcome: Outcome): void {
    if (this.ended) return;
    this.ended = true;
    clearTimeout(this.sendTimer);
    this.pending.length = 0;
    this.resolveDone(outcome);
  }

  private async open(): Promise<void> {
    const { target } = this;
    const protocols = ['binary'];
    const headers: Record<string, string> = {};
    if (target.useTicket) {
      try {
        const res = await fetch(`${target.url}/api/v1/instances/${target.instanceId}/tickets`, {
          method: 'POST',
          headers: { Authorization: `Bearer ${target.token}`, 'Content-Type': 'application/json' },
          body: '{}',
          signal: AbortSignal.timeout(this.bounds.setupMs),
        });
        const body = (await res.json().catch(() => ({}))) as { ticket?: string };
        if (res.status !== 201 || body.ticket === undefined) return this.finish({ kind: 'refused', reason: `ticket HTTP ${res.status}` });
        protocols.push(`vnc-gateway.ticket.${body.ticket}`);
      } catch (error) {
        return this.finish({ kind: 'refused', reason: `ticket ${(error as Error).name}` });
      }
    } else {
      headers.Authorization = `Bearer ${target.token}`;
    }
    const ws = new WebSocket(`${target.wsUrl}/ws/instances/${target.instanceId}`, protocols, { headers, perMessageDeflate: false });
    this.ws = ws;
    // Attach before 'open': the first echo can arrive in the same read as the 101.
    ws.on('message', (data: Buffer) => this.onEcho(data));
    ws.on('error', () => undefined);
    ws.once('unexpected-response', (_req, res) => {
      res.resume();
      this.finish({ kind: 'refused', reason: `HTTP ${res.statusCode ?? 0}` });
      ws.terminate();
    });
    ws.once('open', () => this.sendNext());
    ws.once('close', (code: number, reason: Buffer) => {
      if (this.relayedAt === undefined) this.finish({ kind: 'refused', reason: `${code}${reasonCode(reason)}` });
      else this.finish({ kind: 'relayed', endedBy: this.fault ?? 'planned', closeCode: code });
    });
  }

  private onEcho(data: Buffer): void {
    const expected = this.pending.shift();
    if (expected === undefined || !expected.equals(data)) {
      this.mismatches++;
      return;
    }
    this.bytesVerified += data.length;
    if (this.relayedAt === undefined) {
      this.relayedAt = Date.now();
      this.mustEndBy = this.target.plannedEndAt + this.bounds.closeMs;
      this.schedule();
    }
  }

  private sendNext(size?: number): void {
    const ws = this.ws;
    if (ws === undefined || ws.readyState !== ws.OPEN || !this.sending) return;
    const length = size ?? 16 + Math.floor(this.random() * 4000);
    const body = payload(this.target.seed, this.seq++, length);
    this.pending.push(body);
    this.bytesSent += body.length;
    ws.send(body);
  }

  // Send a payload every 200-800 ms until the planned end, then close normally.
  private schedule(): void {
    if (this.ended) return;
    if (Date.now() >= this.target.plannedEndAt) {
      this.sending = false;
      this.ws?.close(1000);
      return;
    }
    this.sendTimer = setTimeout(() => {
      this.sendNext();
      this.schedule();
    }, 200 + Math.floor(this.random() * 600));
  }

  /** Drops the TCP connection without a close frame. */
  vanish(): void {
    this.fault = 'client_vanished';
    this.sending = false;
    this.ws?.terminate();
  }

  /**
   * Stops reading while pumping large frames, so the gateway's queue to this client grows;
   * reads again after `pauseMs` to learn how the gateway ended the session.
   */
  stopReading(pauseMs: number, frameBytes: number, pumpBytes: number): void {
    const ws = this.ws;
    if (ws === undefined) return;
    this.fault = 'slow_consumer';
    clearTimeout(this.sendTimer);
    ws.pause();
    let pumped = 0;
    const pump = (): void => {
      if (this.ended || ws.readyState !== ws.OPEN || pumped >= pumpBytes) return;
      // Our own queue is bounded too: wait while the gateway is not reading us.
      if (ws.bufferedAmount < 4 * 1024 * 1024) {
        this.sendNext(frameBytes - HEADER_BYTES);
        pumped += frameBytes;
      }
      this.sendTimer = setTimeout(pump, ws.bufferedAmount < 4 * 1024 * 1024 ? 2 : 50);
    };
    pump();
    setTimeout(() => {
      this.sending = false;
      clearTimeout(this.sendTimer);
      ws.resume();
    }, pauseMs);
  }

  /** Stops sending data frames (pings are still answered). */
  goIdle(): void {
    this.fault = 'client_idle';
    this.sending = false;
    clearTimeout(this.sendTimer);
  }

  /** Closes normally now (the load is over). */
  closeNow(): void {
    this.sending = false;
    clearTimeout(this.sendTimer);
    if (this.ws?.readyState === WebSocket.OPEN) this.ws.close(1000);
    else this.ws?.terminate();
  }

  /** Called by the watchdog once `mustEndBy` passed: counts the session as hung and drops it. */
  declareHung(): void {
    const stage = this.relayedAt === undefined ? 'setup' : 'session';
    this.finish({ kind: 'hung', stage, detail: `${this.target.instanceId} fault=${this.fault ?? 'none'}` });
    this.ws?.terminate();
  }
}

/** ` <code>` from a close reason's JSON (`{"code":"rate_limited",…}`), or ''. */
function reasonCode(reason: Buffer): string {
  try {
    const parsed = JSON.parse(reason.toString()) as { code?: unknown };
    return typeof parsed.code === 'string' ? ` ${parsed.code}` : '';
  } catch {
    return '';
  }
}
