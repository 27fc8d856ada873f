// Shared by the console's page scripts (ES modules under /console/js/; the Content-Security-Policy allows no inline
// script). Each page's HTML is rendered by the server; its script fills it with data from /api, signed in by the
// session cookie. State-changing requests repeat the page's CSRF token in X-CSRF-Token. Data is always set as text,
// never parsed as HTML.
const csrf = document.querySelector('meta[name="csrf-token"]')?.content || '';
export const $ = (id) => document.getElementById(id);
const POLL_MS = 5000;

/** Creates an element: `attrs` are attributes (on* names become listeners), children are nodes or text. */
export function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}
export const svg = (tag, attrs, ...children) => {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
};

export async function api(path, opts = {}) {
  const res = await fetch(`/api${path}`, {
    ...opts,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, ...(opts.headers || {}) },
  });
  // Signed out elsewhere, expired, or the admin token was rotated: the page now shows the sign-in form.
  if (res.status === 401) {
    location.reload();
    throw new Error('Signed out');
  }
  const body = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
  return body;
}
export const send = (method, path, body) => api(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });

export function showError(err) {
  const box = $('error');
  if (!box) return;
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : '';
}
/** Runs `load` now and every POLL_MS while the tab is visible (short polling keeps pages live). */
export function live(load) {
  const run = () => load().then(() => showError(null), showError);
  run();
  setInterval(() => {
    if (!document.hidden) run();
  }, POLL_MS);
}

export const when = (t) => (t ? new Date(t).toLocaleString() : '');
export const ms = (v) => (v === null || v === undefined ? '' : v >= 1000 ? `${(v / 1000).toFixed(1)} s` : `${v} ms`);
export const usd = (v) => `$${Number(v || 0).toFixed(v && v < 0.01 ? 4 : 2)}`;
export const pct = (v) => (v === null || v === undefined ? '–' : `${Math.round(v * 100)}%`);
export const inputOf = (e) => (e.args && (e.args.question || e.args.text || e.args.diff)) || e.intent;
export const status = (s) => el('span', { class: `status-${s}` }, s);
export function fill(tbody, rows, empty) {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 9, class: 'help' }, empty))]));
}

export function details(dl, pairs) {
  dl.replaceChildren(...pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v === null || v === '' ? '–' : v)]));
}

async function readiness() {
  try {
    const r = await (await fetch('/readyz')).json();
    $('ready').textContent = `Server: ${r.status}`;
  } catch {
    $('ready').textContent = 'Server: unreachable';
  }
}
readiness();
setInterval(readiness, POLL_MS * 2);
