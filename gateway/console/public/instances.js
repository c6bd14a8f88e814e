// The instance picker: fetches the instances this user may open from GET /api/v1/instances and
// lists them with a Connect link each (none for an instance that is not running or that the
// user may only view), plus an "open by id" field. Text reaches the page only as textContent.

const INSTANCE_ID = /^(lhins|ins)-[a-z0-9]{1,32}$/;
const LIST_TIMEOUT_MS = 15_000;

const ui = {
  status: document.getElementById('status'),
  table: document.getElementById('instances'),
  rows: document.getElementById('instance-rows'),
  warnings: document.getElementById('warnings'),
  openForm: document.getElementById('open-by-id'),
  openId: document.getElementById('open-id'),
};

function setStatus(state, message) {
  ui.status.textContent = message;
  ui.status.dataset.state = state;
}

function cell(text, className) {
  const td = document.createElement('td');
  if (className) td.className = className;
  td.textContent = text;
  return td;
}

/** Why there is no Connect link, or undefined when there is one. */
function notConnectableBecause(instance) {
  if (instance.role === 'viewer') return 'View-only access is not available yet';
  if (typeof instance.state === 'string' && instance.state !== 'RUNNING') {
    return instance.state === 'STOPPED' ? 'Stopped: start it first' : 'Not running';
  }
  return undefined;
}

function row(instance) {
  const tr = document.createElement('tr');
  tr.dataset.instanceId = instance.instanceId;
  tr.appendChild(cell(instance.instanceId, 'id'));
  tr.appendChild(cell(instance.name ?? '', 'name'));
  const state = cell(typeof instance.state === 'string' ? instance.state.toLowerCase() : 'unknown', 'state');
  state.dataset.state = typeof instance.state === 'string' ? instance.state : 'UNKNOWN';
  tr.appendChild(state);
  const action = document.createElement('td');
  action.className = 'action';
  const why = notConnectableBecause(instance);
  if (why === undefined) {
    const link = document.createElement('a');
    link.className = 'button connect';
    link.href = `/console/${encodeURIComponent(instance.instanceId)}`;
    link.textContent = 'Connect';
    action.appendChild(link);
  } else {
    action.textContent = why;
  }
  tr.appendChild(action);
  return tr;
}

async function load() {
  let response;
  try {
    response = await fetch('/api/v1/instances', {
      credentials: 'same-origin',
      headers: { Accept: 'application/json' },
      cache: 'no-store',
      redirect: 'manual',
      signal: AbortSignal.timeout(LIST_TIMEOUT_MS),
    });
  } catch {
    setStatus('error', 'Could not reach the gateway. Reload the page to try again.');
    return;
  }
  if (response.type === 'opaqueredirect' || response.status === 401) {
    setStatus('error', 'Your sign-in has expired. Reload the page to sign in again.');
    return;
  }
  let body;
  try {
    body = await response.json();
  } catch {
    body = undefined;
  }
  if (!response.ok || !Array.isArray(body?.instances)) {
    const message = typeof body?.error?.message === 'string' ? body.error.message : `The gateway could not list instances (HTTP ${response.status}).`;
    setStatus('error', message);
    return;
  }
  ui.rows.replaceChildren(...body.instances.filter((i) => typeof i?.instanceId === 'string').map(row));
  ui.table.hidden = body.instances.length === 0;
  const warnings = Array.isArray(body.warnings) ? body.warnings.filter((w) => typeof w === 'string') : [];
  ui.warnings.replaceChildren(
    ...warnings.map((text) => {
      const li = document.createElement('li');
      li.textContent = text;
      return li;
    }),
  );
  ui.warnings.hidden = warnings.length === 0;
  const count = body.instances.length;
  setStatus(
    'connected',
    count === 0
      ? 'No instances are listed for you. Open one by id, or ask for access.'
      : `${count} instance${count === 1 ? '' : 's'} you may open.`,
  );
}

ui.openForm.addEventListener('submit', (event) => {
  event.preventDefault();
  const id = ui.openId.value.trim();
  if (!INSTANCE_ID.test(id)) {
    ui.openId.setCustomValidity('Enter a Lighthouse (lhins-…) or CVM (ins-…) instance id.');
    ui.openId.reportValidity();
    return;
  }
  location.assign(`/console/${encodeURIComponent(id)}`);
});
ui.openId.addEventListener('input', () => ui.openId.setCustomValidity(''));

void load();
