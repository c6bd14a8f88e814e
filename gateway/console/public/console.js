// The browser console: asks the gateway for a single-use ticket, opens the WebSocket itself
// (ticket as a subprotocol, so it is never in a URL and the close code stays readable), hands
// the socket to noVNC, and explains every ending in a sentence.
//
// The ticket lives only in a local variable of connect(): never in a URL, the DOM, a log line
// or an error message shown to the user.

import { keySequence } from './console-keys.js';
import { MAX_AUTO_RETRIES, describeClose, describeTicketError, retryMessage, wsUrlFrom } from './console-messages.js';

const TICKET_TIMEOUT_MS = 15_000;
const TICKET_PROTOCOL_PREFIX = 'vnc-gateway.ticket.';
const SCALE_STORAGE_KEY = 'vnc-gateway.scale';
const SCALE_MODES = ['fit', 'none', 'remote'];

const body = document.body;
const instanceId = body.dataset.instanceId ?? '';
// `/console/<id>?region=ap-shanghai` names the instance's region; the gateway validates it.
const consoleRegion = new URLSearchParams(location.search).get('region') ?? '';
const loginUrl = safeLoginUrl(body.dataset.loginUrl);

const ui = {
  status: document.getElementById('status'),
  signIn: document.getElementById('sign-in'),
  screen: document.getElementById('screen'),
  passwordForm: document.getElementById('password-form'),
  password: document.getElementById('password'),
  ctrlAltDel: document.getElementById('ctrl-alt-del'),
  disconnect: document.getElementById('disconnect'),
  reconnect: document.getElementById('reconnect'),
  fullscreen: document.getElementById('fullscreen'),
  keysMenu: document.getElementById('keys-menu'),
  keyButtons: [...document.querySelectorAll('#keys-menu [data-key]')],
  clipboardText: document.getElementById('clipboard-text'),
  clipboardSend: document.getElementById('clipboard-send'),
  scale: document.getElementById('scale'),
};

// Loaded in parallel with the first ticket request; a failure is shown, not swallowed.
const rfbModule = import('./novnc/core/rfb.js');

/** The attempt in progress or connected: `{ socket?, rfb?, userEnded, failure? }`, or null. */
let current = null;
let countdown = null;
let autoRetries = 0;

/** Only same-origin paths and http(s) URLs become a link. */
function safeLoginUrl(value) {
  if (!value) return undefined;
  try {
    const url = new URL(value, location.href);
    return url.protocol === 'https:' || url.protocol === 'http:' ? url.href : undefined;
  } catch {
    return undefined;
  }
}

function setStatus(state, message) {
  ui.status.textContent = message;
  ui.status.dataset.state = state;
  const connected = state === 'connected';
  const active = state === 'connecting' || connected;
  ui.ctrlAltDel.disabled = !connected;
  for (const button of ui.keyButtons) button.disabled = !connected;
  ui.clipboardSend.disabled = !connected;
  ui.disconnect.disabled = !active && countdown === null;
  ui.reconnect.disabled = active;
  ui.reconnect.classList.remove('suggested');
  ui.signIn.hidden = true;
  if (!active) ui.passwordForm.hidden = true;
}

function cancelCountdown() {
  if (countdown !== null) clearInterval(countdown);
  countdown = null;
}

/** Shows an ending and takes its next step (retry countdown, suggested reconnect, sign-in link). */
function showEnding(description) {
  cancelCountdown();
  setStatus('error', description.message);
  if (description.signIn && loginUrl !== undefined) {
    ui.signIn.href = loginUrl;
    ui.signIn.hidden = false;
  }
  if (description.next === 'reconnect') {
    ui.reconnect.classList.add('suggested');
  } else if (description.next === 'retry') {
    if (autoRetries >= MAX_AUTO_RETRIES) {
      setStatus('error', 'Too many connection attempts. Wait a minute, then reconnect.');
      return;
    }
    let remaining = description.retryAfterSeconds;
    ui.disconnect.disabled = false; // lets the user stop the countdown
    countdown = setInterval(() => {
      remaining -= 1;
      if (remaining > 0) {
        ui.status.textContent = retryMessage(remaining);
        return;
      }
      cancelCountdown();
      autoRetries += 1;
      void connect();
    }, 1000);
  }
}

/** Ends the current attempt without reporting its close (superseded or stopped by the user). */
function abandonCurrent() {
  const attempt = current;
  current = null;
  if (attempt === null) return;
  attempt.userEnded = true;
  if (attempt.rfb) attempt.rfb.disconnect();
  else if (attempt.socket) attempt.socket.close();
}

async function requestTicket() {
  const response = await fetch(`/api/v1/instances/${encodeURIComponent(instanceId)}/tickets`, {
    method: 'POST',
    credentials: 'same-origin',
    headers: { 'Content-Type': 'application/json', Accept: 'application/json' },
    body: JSON.stringify(consoleRegion ? { region: consoleRegion } : {}),
    cache: 'no-store',
    // An SSO proxy's redirect to the identity provider must not be followed by a POST.
    redirect: 'manual',
    signal: AbortSignal.timeout(TICKET_TIMEOUT_MS),
  });
  let json;
  try {
    json = await response.json();
  } catch {
    json = undefined;
  }
  return { status: response.type === 'opaqueredirect' ? 0 : response.status, json, retryAfter: response.headers.get('Retry-After') };
}

async function connect() {
  cancelCountdown();
  abandonCurrent();
  const attempt = { userEnded: false };
  current = attempt;
  setStatus('connecting', 'Requesting a session ticket…');

  let answer;
  try {
    answer = await requestTicket();
  } catch (error) {
    if (current !== attempt) return;
    current = null;
    const timedOut = error instanceof DOMException && error.name === 'TimeoutError';
    showEnding(
      timedOut
        ? { message: 'The gateway did not answer in time. Try again.', next: 'reconnect', signIn: false }
        : describeTicketError(0, undefined, null),
    );
    return;
  }
  if (current !== attempt) return; // Disconnect or Reconnect was pressed meanwhile.

  const { ticket, websocketPath } = answer.json ?? {};
  if (answer.status !== 201 || typeof ticket !== 'string' || typeof websocketPath !== 'string') {
    current = null;
    showEnding(
      answer.status === 201
        ? { message: 'The gateway returned an unexpected answer. Try again.', next: 'reconnect', signIn: false }
        : describeTicketError(answer.status, answer.json, answer.retryAfter),
    );
    return;
  }

  let RFB;
  try {
    RFB = (await rfbModule).default;
  } catch {
    current = null;
    showEnding({ message: 'The console could not load its VNC client. Reload the page.', next: 'none', signIn: false });
    return;
  }
  if (current !== attempt) return;

  setStatus('connecting', 'Connecting…');
  try {
    // A bad subprotocol makes the constructor throw with the protocol (the ticket) in the
    // error message, so that message is never shown.
    attempt.socket = new WebSocket(wsUrlFrom(location, websocketPath), ['binary', TICKET_PROTOCOL_PREFIX + ticket]);
  } catch {
    current = null;
    showEnding({ message: 'The console could not open a connection to the gateway.', next: 'reconnect', signIn: false });
    return;
  }
  attempt.socket.binaryType = 'arraybuffer';
  // Registered before noVNC takes the socket: noVNC assigns `onclose` and its own
  // "disconnect" event carries no close code or reason.
  attempt.socket.addEventListener('close', (event) => finish(attempt, event.code, event.reason));

  const rfb = new RFB(ui.screen, attempt.socket, { shared: true });
  attempt.rfb = rfb;
  applyScale(rfb, ui.scale.value);
  rfb.addEventListener('clipboard', (event) => {
    // Text copied on the remote machine; shown, never interpreted.
    const text = event.detail?.text;
    if (current === attempt && typeof text === 'string') ui.clipboardText.value = text;
  });
  rfb.addEventListener('connect', () => {
    if (current !== attempt) return;
    autoRetries = 0;
    setStatus('connected', 'Connected.');
    rfb.focus();
  });
  rfb.addEventListener('disconnect', () => {
    // Normally the socket's close event came first; this covers noVNC giving up on a close
    // handshake that never completes.
    if (current === attempt) finish(attempt, 1006, '');
  });
  rfb.addEventListener('securityfailure', (event) => {
    const reason = typeof event.detail?.reason === 'string' && event.detail.reason ? `: ${event.detail.reason}` : '.';
    attempt.failure = `The instance's VNC server refused the connection${reason}`;
  });
  rfb.addEventListener('credentialsrequired', () => {
    if (current !== attempt) return;
    ui.passwordForm.hidden = false;
    ui.password.focus();
  });
  rfb.addEventListener('desktopname', (event) => {
    const name = event.detail?.name;
    if (typeof name === 'string' && name) document.title = `${name} · ${instanceId}`;
  });
}

function finish(attempt, code, reason) {
  if (current !== attempt) return;
  current = null;
  if (attempt.userEnded) {
    setStatus('disconnected', 'Disconnected.');
  } else if (attempt.failure !== undefined) {
    showEnding({ message: attempt.failure, next: 'none', signIn: false });
  } else {
    const description = describeClose(code, reason);
    if (code === 1000) setStatus('disconnected', description.message);
    else showEnding(description);
  }
}

/**
 * fit: the remote screen scaled into the window; none: 1:1 with scrollbars; remote: ask the
 * server to resize its desktop to the window (noVNC does so only when the server supports
 * ExtendedDesktopSize, otherwise the screen stays as it is, unscaled).
 */
function applyScale(rfb, mode) {
  rfb.scaleViewport = mode === 'fit';
  rfb.clipViewport = false;
  rfb.resizeSession = mode === 'remote';
}

function loadScaleMode() {
  try {
    const saved = localStorage.getItem(SCALE_STORAGE_KEY);
    if (SCALE_MODES.includes(saved)) ui.scale.value = saved;
  } catch {
    // Storage disabled: the default (fit) stays.
  }
}

ui.scale.addEventListener('change', () => {
  const mode = SCALE_MODES.includes(ui.scale.value) ? ui.scale.value : 'fit';
  try {
    localStorage.setItem(SCALE_STORAGE_KEY, mode);
  } catch {
    // Not remembered; still applied.
  }
  if (current?.rfb) {
    applyScale(current.rfb, mode);
    current.rfb.focus();
  }
});

for (const button of ui.keyButtons) {
  button.addEventListener('click', () => {
    const rfb = current?.rfb;
    const sequence = keySequence(button.dataset.key);
    if (rfb && sequence) for (const [keysym, code, down] of sequence) rfb.sendKey(keysym, code, down);
    ui.keysMenu.open = false;
    rfb?.focus();
  });
}

ui.clipboardSend.addEventListener('click', () => {
  const rfb = current?.rfb;
  if (!rfb) return;
  rfb.clipboardPasteFrom(ui.clipboardText.value);
  ui.clipboardSend.textContent = 'Sent';
  setTimeout(() => (ui.clipboardSend.textContent = 'Send to remote'), 1500);
});

ui.ctrlAltDel.addEventListener('click', () => {
  current?.rfb?.sendCtrlAltDel();
  current?.rfb?.focus();
});

ui.disconnect.addEventListener('click', () => {
  cancelCountdown();
  const attempt = current;
  if (attempt === null) {
    setStatus('disconnected', 'Disconnected.');
    return;
  }
  attempt.userEnded = true;
  if (attempt.rfb) {
    attempt.rfb.disconnect(); // the close event reports "Disconnected."
  } else {
    current = null; // still asking for a ticket: forget the answer
    setStatus('disconnected', 'Disconnected.');
  }
});

ui.reconnect.addEventListener('click', () => {
  autoRetries = 0;
  void connect(); // always a new ticket: tickets are single-use
});

ui.fullscreen.addEventListener('click', () => {
  if (document.fullscreenElement) void document.exitFullscreen();
  else void document.documentElement.requestFullscreen?.().catch(() => {});
});
document.addEventListener('fullscreenchange', () => {
  ui.fullscreen.textContent = document.fullscreenElement ? 'Exit fullscreen' : 'Fullscreen';
  current?.rfb?.focus();
});

ui.passwordForm.addEventListener('submit', (event) => {
  event.preventDefault();
  current?.rfb?.sendCredentials({ password: ui.password.value });
  ui.password.value = '';
  ui.passwordForm.hidden = true;
});

loadScaleMode();
if (instanceId) void connect();
else setStatus('error', 'This page has no instance id.');
