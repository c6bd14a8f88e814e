// The gateway's error catalogue: every failure a client can meet, with its HTTP status
// (before a WebSocket upgrade) and its close code (after it). The README's error table
// is checked against this catalogue by test/unit/errors.test.ts.

/** One entry of the catalogue. `message` is what a client sees; the cause stays in the logs. */
export interface ErrorSpec {
  readonly httpStatus: number;
  readonly closeCode: number;
  readonly message: string;
}

export const ERROR_CATALOGUE = {
  auth_required: { httpStatus: 401, closeCode: 4401, message: 'Sign-in required.' },
  auth_invalid: { httpStatus: 401, closeCode: 4401, message: 'The sign-in token is invalid or expired.' },
  ticket_invalid: { httpStatus: 401, closeCode: 4401, message: 'The session ticket is invalid, expired or already used.' },
  origin_forbidden: { httpStatus: 403, closeCode: 4403, message: 'Requests from this origin are not allowed.' },
  access_denied: { httpStatus: 403, closeCode: 4403, message: 'You do not have access to this instance.' },
  instance_id_invalid: { httpStatus: 400, closeCode: 4404, message: 'That is not a valid Lighthouse (lhins-…) or CVM (ins-…) instance id.' },
  instance_not_found: { httpStatus: 404, closeCode: 4404, message: 'The instance does not exist.' },
  instance_state: { httpStatus: 409, closeCode: 4409, message: 'The instance is not in a state that allows VNC (stopped, being created, or busy).' },
  rate_limited: { httpStatus: 429, closeCode: 4429, message: 'Too many attempts; try again shortly.' },
  tencent_api_error: { httpStatus: 502, closeCode: 4502, message: 'Tencent Cloud could not provide a console for this instance.' },
  tencent_api_timeout: { httpStatus: 504, closeCode: 4504, message: 'Tencent Cloud did not answer in time.' },
  upstream_host_forbidden: { httpStatus: 502, closeCode: 4502, message: 'Tencent Cloud returned a console address outside the allowed hosts.' },
  upstream_failed: { httpStatus: 502, closeCode: 4502, message: 'The console connection to the instance failed.' },
  upstream_timeout: { httpStatus: 504, closeCode: 4504, message: 'The instance console did not answer in time.' },
  state_unavailable: { httpStatus: 503, closeCode: 4503, message: 'The gateway cannot enforce its limits or audit right now; try again later.' },
  session_terminated: { httpStatus: 410, closeCode: 4410, message: 'An administrator ended this session.' },
  audit_unavailable: { httpStatus: 503, closeCode: 4503, message: 'The gateway cannot write its audit trail right now; try again later.' },
  idle_timeout: { httpStatus: 408, closeCode: 4408, message: 'The session was idle too long; reconnect to continue.' },
  max_duration: { httpStatus: 410, closeCode: 4410, message: 'The session reached its maximum duration; reconnect to continue.' },
  slow_consumer: { httpStatus: 413, closeCode: 4413, message: 'The connection could not keep up with the screen updates.' },
  shutting_down: { httpStatus: 503, closeCode: 1001, message: 'The gateway is restarting; reconnect in a moment.' },
  bad_request: { httpStatus: 400, closeCode: 1008, message: 'The request is malformed.' },
  not_found: { httpStatus: 404, closeCode: 1008, message: 'Not found.' },
  internal: { httpStatus: 500, closeCode: 1011, message: 'Internal error.' },
} as const satisfies Record<string, ErrorSpec>;

export type ErrorCode = keyof typeof ERROR_CATALOGUE;

export interface GatewayErrorOptions {
  /** Replaces the catalogue's sentence when a more specific, non-secret one helps the user. */
  message?: string;
  /** Seconds until a retry can succeed (rate limits). */
  retryAfterSeconds?: number;
  /** Tencent Cloud RequestId, for the audit record. */
  requestId?: string;
  /** Tencent Cloud error code, for the audit record and admins. */
  upstreamCode?: string;
  cause?: unknown;
}

/** A failure with a stable `code`; `switch (err.code)` narrows. */
export class GatewayError extends Error {
  override readonly name = 'GatewayError';
  readonly code: ErrorCode;
  readonly httpStatus: number;
  readonly closeCode: number;
  readonly retryAfterSeconds: number | undefined;
  readonly requestId: string | undefined;
  readonly upstreamCode: string | undefined;

  constructor(code: ErrorCode, options: GatewayErrorOptions = {}) {
    const spec: ErrorSpec = ERROR_CATALOGUE[code];
    super(options.message ?? spec.message, options.cause === undefined ? undefined : { cause: options.cause });
    this.code = code;
    this.httpStatus = spec.httpStatus;
    this.closeCode = spec.closeCode;
    this.retryAfterSeconds = options.retryAfterSeconds;
    this.requestId = options.requestId;
    this.upstreamCode = options.upstreamCode;
  }

  /** The JSON body a client receives: `{"error":{"code","message","retryAfter"?}}`. */
  toBody(): { error: { code: ErrorCode; message: string; retryAfter?: number } } {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.retryAfterSeconds === undefined ? {} : { retryAfter: this.retryAfterSeconds }),
      },
    };
  }

  /**
   * The WebSocket close reason: short JSON `{"code","message","retryAfter"?}`. A close reason
   * must fit in 123 bytes (RFC 6455 §5.5), so the message is shortened when needed.
   */
  toCloseReason(): string {
    return closeReason(this.code, this.message, this.retryAfterSeconds);
  }
}

/** Builds a close reason that fits the 123-byte limit of a WebSocket control frame. */
export function closeReason(code: string, message: string, retryAfterSeconds?: number): string {
  const build = (msg: string): string =>
    JSON.stringify({ code, message: msg, ...(retryAfterSeconds === undefined ? {} : { retryAfter: retryAfterSeconds }) });
  let text = build(message);
  // Every UTF-16 unit is at least one byte, so no prefix longer than 123 units can fit: start
  // there, or a long message would cost one JSON.stringify per character (quadratic).
  for (let keep = Math.min(message.length - 1, 123); Buffer.byteLength(text) > 123 && keep >= 0; keep--) {
    text = build(`${message.slice(0, keep).trimEnd()}…`);
  }
  return text;
}

export function isGatewayError(value: unknown): value is GatewayError {
  return value instanceof GatewayError;
}
