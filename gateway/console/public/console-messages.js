// What the console tells the user: close codes and ticket errors turned into sentences and a
// next step, plus the WebSocket URL. Pure functions, no DOM, so they are unit-tested in Node.

/** Consecutive automatic retries (after 429 / 4429) before the console stops and asks. */
export const MAX_AUTO_RETRIES = 5;

/** Fallback when a 429 / 4429 carries no usable retryAfter. */
const DEFAULT_RETRY_AFTER_S = 5;
/** Never wait longer than this automatically; a longer wait is shown but capped. */
const MAX_RETRY_AFTER_S = 300;

/**
 * The WebSocket URL for `websocketPath` on the page's own origin (`https:` → `wss:`). Only a
 * same-origin absolute path is accepted: the ticket rides along as a subprotocol, so the
 * socket must never be pointed at another host.
 */
export function wsUrlFrom(location, websocketPath) {
  if (
    typeof websocketPath !== 'string' ||
    !websocketPath.startsWith('/') ||
    websocketPath.startsWith('//') ||
    websocketPath.includes('\\')
  ) {
    throw new TypeError('The gateway returned an invalid WebSocket path.');
  }
  const scheme = location.protocol === 'https:' ? 'wss:' : 'ws:';
  return `${scheme}//${location.host}${websocketPath}`;
}

/** Seconds to wait, from a server value (number or numeric string), bounded and whole. */
export function retryAfterSeconds(value) {
  const seconds = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  if (typeof seconds !== 'number' || !Number.isFinite(seconds) || seconds < 0) return DEFAULT_RETRY_AFTER_S;
  return Math.min(MAX_RETRY_AFTER_S, Math.max(1, Math.ceil(seconds)));
}

/** The countdown sentence for a rate-limited attempt. */
export function retryMessage(seconds) {
  return `Too many connection attempts. Retrying in ${seconds} s…`;
}

/** The close reason JSON `{"code","message","retryAfter"?}`, or `{}` when it is not that. */
export function parseCloseReason(reason) {
  if (typeof reason !== 'string' || reason === '') return {};
  try {
    const value = JSON.parse(reason);
    if (value === null || typeof value !== 'object') return {};
    return {
      ...(typeof value.code === 'string' ? { code: value.code } : {}),
      ...(typeof value.message === 'string' ? { message: value.message } : {}),
      ...(value.retryAfter !== undefined ? { retryAfter: value.retryAfter } : {}),
    };
  } catch {
    return {};
  }
}

/**
 * What to show after the socket closed. `next` is `'retry'` (count down `retryAfterSeconds`,
 * then reconnect with a new ticket), `'reconnect'` (offer the Reconnect button prominently)
 * or `'none'`; `signIn` says a sign-in link helps.
 */
export function describeClose(code, reason) {
  const parsed = parseCloseReason(reason);
  const say = (message, next = 'none', extra = {}) => ({ message, next, signIn: false, ...extra });
  switch (code) {
    case 1000:
      return say('Disconnected.');
    case 1001:
      return say('The gateway is restarting. Reconnect in a moment.', 'reconnect');
    case 1002:
    case 1007:
      return say('The browser sent data that breaks the WebSocket protocol, so the session was closed. Reload the page, then reconnect.', 'reconnect');
    case 1009:
      return say('The browser sent a message larger than the gateway accepts, so the session was closed. Reconnect to continue.', 'reconnect');
    case 1003:
      return say('The console sent data the gateway does not relay, so the session was closed. Reconnect to continue.', 'reconnect');
    case 1008:
      return say('The gateway refused the connection request as malformed. Reload the page, then reconnect.', 'reconnect');
    case 1011:
      return say('The gateway hit an internal error and closed the session. Reconnect in a moment.', 'reconnect');
    case 1006:
      return say('The connection to the gateway was lost or refused. Check your network, then reconnect.', 'reconnect');
    case 4401:
      return say(
        'Your sign-in has expired or the session link was already used — reload to sign in again.',
        'none',
        { signIn: true },
      );
    case 4403:
      return say('You do not have access to this instance.');
    case 4404:
      return say('This instance does not exist (or not in this region).');
    case 4409:
      return say('This instance is not running. Start it in the Tencent Cloud console first, then reconnect.');
    case 4429: {
      const seconds = retryAfterSeconds(parsed.retryAfter);
      return say(retryMessage(seconds), 'retry', { retryAfterSeconds: seconds });
    }
    case 4408:
      return say('The session was closed because it was idle for too long. Reconnect to continue.');
    case 4410:
      return say('The session was ended by an administrator or reached its maximum duration.');
    case 4413:
      return say('Your connection could not keep up with the screen updates, so the session was closed. Reconnect, ideally on a faster network.');
    case 4502:
      return say('Tencent Cloud could not open the console for this instance. Try again in a moment.');
    case 4503:
      return say(
        'The gateway cannot enforce its safeguards right now, so it did not open the session. Try again later.',
      );
    case 4504:
      return say('Tencent Cloud or the instance did not answer in time. Try again in a moment.');
    default: {
      const detail = parsed.message === undefined ? '' : ` ${parsed.message}`;
      return say(`The console connection closed unexpectedly (code ${code}).${detail}`);
    }
  }
}

/**
 * What to show when the ticket request failed: `status` is the HTTP status (0 for a network
 * failure or an SSO redirect), `body` the parsed JSON or undefined, `retryAfterHeader` the
 * `Retry-After` header. Same shape as {@link describeClose}.
 */
export function describeTicketError(status, body, retryAfterHeader) {
  const error = body !== null && typeof body === 'object' && typeof body.error === 'object' ? body.error : undefined;
  const serverMessage = error !== null && typeof error?.message === 'string' ? error.message : undefined;
  if (status === 0) {
    // An SSO proxy answers an expired session with a redirect to the identity provider,
    // which a same-origin fetch with `redirect: 'manual'` sees as status 0.
    return { message: 'Could not reach the gateway, or your sign-in has expired. Reload the page to sign in again.', next: 'reconnect', signIn: true };
  }
  if (status === 401) {
    return { message: `${serverMessage ?? 'Sign-in required.'} Sign in, then reload this page.`, next: 'none', signIn: true };
  }
  if (status === 429) {
    const seconds = retryAfterSeconds(error?.retryAfter ?? retryAfterHeader);
    return { message: retryMessage(seconds), next: 'retry', retryAfterSeconds: seconds, signIn: false };
  }
  const retryable = status >= 500;
  return {
    message: serverMessage ?? `The gateway could not issue a session ticket (HTTP ${status}).`,
    next: retryable ? 'reconnect' : 'none',
    signIn: false,
  };
}
