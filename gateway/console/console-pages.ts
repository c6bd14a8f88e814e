// The HTML pages of the browser console: the console itself, "sign in required" and "not a
// valid instance id". No inline script or style anywhere (the CSP forbids both); values reach
// the script through HTML-escaped data- attributes.

import { escapeHtml } from './html-escape.js';

/** The script and stylesheet the console page loads, served by the console routes. */
export const CONSOLE_SCRIPT_PATH = '/assets/console.js';
export const CONSOLE_STYLESHEET_PATH = '/assets/console.css';

// `data:,` as the icon spares the browser a /favicon.ico request (a 404 in every console).
function layout(title: string, body: string, head = ''): string {
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${escapeHtml(title)}</title>
<link rel="icon" href="data:,">
<link rel="stylesheet" href="${CONSOLE_STYLESHEET_PATH}">
${head}</head>
${body}
</html>
`;
}

// The Keys menu, mirrored from SPECIAL_KEYS in public/console-keys.js (a unit test checks
// both lists agree); each button names its key sequence in data-key.
const SPECIAL_KEYS: readonly { name: string; label: string }[] = [
  { name: 'ctrl-alt-del', label: 'Ctrl+Alt+Del' },
  { name: 'tab', label: 'Tab' },
  { name: 'esc', label: 'Esc' },
  { name: 'super', label: 'Windows / Super' },
  { name: 'ctrl-alt-backspace', label: 'Ctrl+Alt+Backspace' },
  ...Array.from({ length: 12 }, (_, i) => ({ name: `ctrl-alt-f${i + 1}`, label: `Ctrl+Alt+F${i + 1}` })),
];
const SPECIAL_KEY_BUTTONS = SPECIAL_KEYS.map(
  ({ name, label }) => `        <button type="button" role="menuitem" data-key="${escapeHtml(name)}" disabled>${escapeHtml(label)}</button>`,
).join('\n');

export interface ConsolePageOptions {
  /** A validated instance id (escaped again here all the same). */
  instanceId: string;
  /** Where the page sends the user when the ticket call says they are not signed in. */
  loginUrl?: string | undefined;
}

/** The console page: a top bar (instance id, status, buttons) and the remote screen. */
export function renderConsolePage({ instanceId, loginUrl }: ConsolePageOptions): string {
  const id = escapeHtml(instanceId);
  const loginAttribute = loginUrl === undefined ? '' : ` data-login-url="${escapeHtml(loginUrl)}"`;
  return layout(
    `${instanceId} · console`,
    `<body class="console" data-instance-id="${id}"${loginAttribute}>
<header class="bar">
  <a class="home" href="/" title="All instances">Instances</a>
  <span class="instance" title="Instance">${id}</span>
  <span class="status" id="status" role="status" aria-live="polite">Loading…</span>
  <a class="sign-in" id="sign-in" hidden>Sign in</a>
  <form class="password" id="password-form" hidden>
    <label>VNC password <input type="password" id="password" autocomplete="off"></label>
    <button type="submit">Send</button>
  </form>
  <nav class="actions" aria-label="Console actions">
    <button type="button" id="ctrl-alt-del" disabled>Ctrl+Alt+Del</button>
    <details class="menu" id="keys-menu">
      <summary>Keys</summary>
      <div class="menu-panel" role="menu">
${SPECIAL_KEY_BUTTONS}
      </div>
    </details>
    <details class="menu" id="clipboard-menu">
      <summary>Clipboard</summary>
      <div class="menu-panel clipboard">
        <label for="clipboard-text">Text to paste into the remote machine; text copied there appears here.</label>
        <textarea id="clipboard-text" rows="5" cols="36" spellcheck="false" autocomplete="off"></textarea>
        <button type="button" id="clipboard-send" disabled>Send to remote</button>
      </div>
    </details>
    <label class="scale" title="Fit: scale the remote screen into the window. 1:1: actual size, with scrollbars. Remote resize: ask the remote desktop to take the window's size (only where its VNC server allows).">Scale
      <select id="scale">
        <option value="fit">Fit</option>
        <option value="none">1:1</option>
        <option value="remote">Remote resize</option>
      </select>
    </label>
    <button type="button" id="fullscreen">Fullscreen</button>
    <button type="button" id="disconnect" disabled>Disconnect</button>
    <button type="button" id="reconnect" disabled>Reconnect</button>
  </nav>
</header>
<main class="screen" id="screen"></main>
<noscript><p class="message">The console needs JavaScript.</p></noscript>
</body>`,
    `<script type="module" src="${CONSOLE_SCRIPT_PATH}"></script>\n`,
  );
}

/** The script of the instance picker (`/`). */
export const INSTANCES_SCRIPT_PATH = '/assets/instances.js';

/**
 * The instance picker (`/`): the instances the user may open, filled in by its script from
 * `GET /api/v1/instances`, and a field to open any instance by id.
 */
export function renderInstancesPage(): string {
  return layout(
    'Instances · console',
    `<body class="picker">
<header class="bar">
  <span class="instance">Instances</span>
  <span class="status" id="status" role="status" aria-live="polite">Loading…</span>
</header>
<main class="picker-main">
  <form class="open-by-id" id="open-by-id">
    <label for="open-id">Open by id</label>
    <input id="open-id" name="instanceId" required autocomplete="off" spellcheck="false"
      placeholder="lhins-… or ins-…" pattern="(lhins|ins)-[a-z0-9]{1,32}" maxlength="38"
      title="A Lighthouse (lhins-…) or CVM (ins-…) instance id">
    <button type="submit">Open</button>
  </form>
  <table class="instances" id="instances" hidden>
    <thead><tr><th scope="col">Instance</th><th scope="col">Name</th><th scope="col">State</th><th scope="col"><span class="visually-hidden">Action</span></th></tr></thead>
    <tbody id="instance-rows"></tbody>
  </table>
  <ul class="warnings" id="warnings" hidden></ul>
</main>
<noscript><p class="message">The instance list needs JavaScript.</p></noscript>
</body>`,
    `<script type="module" src="${INSTANCES_SCRIPT_PATH}"></script>\n`,
  );
}

/** The 401 page: says why and links to the sign-in URL when one is configured. No script. */
export function renderSignInPage(loginUrl: string | undefined): string {
  const link =
    loginUrl === undefined
      ? '<p>Reload this page after signing in to your company account.</p>'
      : `<p><a class="button" href="${escapeHtml(loginUrl)}">Sign in</a></p>`;
  return layout(
    'Sign in required',
    `<body class="page">
<main class="message">
  <h1>Sign in required</h1>
  <p>You need to sign in before opening an instance console.</p>
  ${link}
</main>
</body>`,
  );
}

/** The 400 page for a path that is not a Lighthouse or CVM instance id. No script. */
export function renderInvalidInstancePage(rawInstanceId: string): string {
  // Echo a bounded, escaped copy so the user sees what was wrong with the link.
  const shown = rawInstanceId.length > 80 ? `${rawInstanceId.slice(0, 80)}…` : rawInstanceId;
  return layout(
    'Not a valid instance id',
    `<body class="page">
<main class="message">
  <h1>Not a valid instance id</h1>
  <p><code>${escapeHtml(shown)}</code> is not a Lighthouse (<code>lhins-…</code>) or CVM (<code>ins-…</code>) instance id.</p>
</main>
</body>`,
  );
}
