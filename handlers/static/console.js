// The console's script (GET /console.js): the Content-Security-Policy allows no inline script. Each page's HTML is
// rendered by the server; this fills it with data from /api, signed in by the session cookie. State-changing
// requests repeat the page's CSRF token in X-CSRF-Token. Data is always set as text, never parsed as HTML.
'use strict';
const page = document.body.dataset.page;
const csrf = (document.querySelector('meta[name="csrf-token"]') || {}).content || '';
const $ = (id) => document.getElementById(id);
const POLL_MS = 5000;

/** Creates an element: `attrs` are attributes (on* names become listeners), children are nodes or text. */
function el(tag, attrs, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith('on')) node.addEventListener(k.slice(2), v);
    else node.setAttribute(k, v === true ? '' : String(v));
  }
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null) node.append(c instanceof Node ? c : String(c));
  return node;
}
const svg = (tag, attrs, ...children) => {
  const node = document.createElementNS('http://www.w3.org/2000/svg', tag);
  for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
  for (const c of children) node.append(c);
  return node;
};

async function api(path, opts = {}) {
  const res = await fetch('/api' + path, {
    ...opts,
    credentials: 'same-origin',
    headers: { 'content-type': 'application/json', 'x-csrf-token': csrf, ...(opts.headers || {}) },
  });
  // Signed out elsewhere, expired, or the admin token was rotated: the page now shows the sign-in form.
  if (res.status === 401) { location.reload(); throw new Error('Signed out'); }
  const body = res.status === 204 ? {} : await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
  return body;
}
const send = (method, path, body) => api(path, { method, body: body === undefined ? undefined : JSON.stringify(body) });

function showError(err) {
  const box = $('error');
  if (!box) return;
  box.hidden = !err;
  box.textContent = err ? String(err.message || err) : '';
}
/** Runs `load` now and every POLL_MS while the tab is visible (short polling keeps pages live). */
function live(load) {
  const run = () => load().then(() => showError(null), showError);
  run();
  setInterval(() => { if (!document.hidden) run(); }, POLL_MS);
}

const when = (t) => (t ? new Date(t).toLocaleString() : '');
const ms = (v) => (v === null || v === undefined ? '' : v >= 1000 ? (v / 1000).toFixed(1) + ' s' : v + ' ms');
const usd = (v) => '$' + Number(v || 0).toFixed(v && v < 0.01 ? 4 : 2);
const pct = (v) => (v === null || v === undefined ? '–' : Math.round(v * 100) + '%');
const inputOf = (e) => (e.args && (e.args.question || e.args.text || e.args.diff)) || e.intent;
const status = (s) => el('span', { class: 'status-' + s }, s);
function fill(tbody, rows, empty) {
  tbody.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 9, class: 'help' }, empty))]));
}

async function readiness() {
  try {
    const r = await (await fetch('/readyz')).json();
    $('ready').textContent = 'Server: ' + r.status;
  } catch { $('ready').textContent = 'Server: unreachable'; }
}

// ---- Charts: small inline SVG, one bar group per bucket, with a text alternative ----
function barChart(target, points, series, label) {
  const width = 600, height = 170, pad = 24;
  const max = Math.max(1e-9, ...points.flatMap((p) => series.map((s) => p[s.key])));
  const step = (width - pad) / Math.max(points.length, 1);
  const bars = [];
  points.forEach((p, i) => {
    series.forEach((s, j) => {
      const h = ((height - pad) * p[s.key]) / max;
      const w = Math.max(1, step / series.length - 1);
      bars.push(svg('rect', { x: pad + i * step + j * w, y: height - pad - h, width: w, height: h, fill: s.color }, svg('title', {}, document.createTextNode(p.label + ': ' + s.format(p[s.key]) + ' ' + s.name))));
    });
  });
  const axis = [svg('line', { x1: pad, y1: height - pad, x2: width, y2: height - pad, stroke: '#9aa5b1' }),
    svg('text', { x: 0, y: 12, 'font-size': 11, fill: '#5b6570' }, document.createTextNode(series[0].format(max))),
    svg('text', { x: pad, y: height - 6, 'font-size': 11, fill: '#5b6570' }, document.createTextNode(points[0] ? points[0].label : '')),
    svg('text', { x: width, y: height - 6, 'font-size': 11, fill: '#5b6570', 'text-anchor': 'end' }, document.createTextNode(points.length ? points[points.length - 1].label : ''))];
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label }, ...axis, ...bars);
  const legend = el('p', { class: 'legend' }, series.map((s) => [el('span', { class: s.swatch, 'aria-hidden': 'true' }, '■ '), s.name + '  ']));
  target.replaceChildren(chart, legend);
}

async function overview() {
  const [o, usage] = await Promise.all([api('/overview'), api('/usage?days=14')]);
  $('queue-depth').textContent = o.queue.depth + (o.queue.degraded ? ' (over the limit)' : '');
  $('per-minute').textContent = o.last_hour.per_minute;
  $('failures').textContent = o.last_hour.failures;
  fill($('channels'), o.channels.map((c) => el('tr', {}, el('td', {}, c.channel), el('td', {}, el('span', { class: c.enabled ? 'on' : 'off' }, c.enabled ? 'on' : 'off')),
    el('td', {}, c.required_env.length ? c.required_env.map((v) => el('code', {}, v)).flatMap((n, i) => (i ? [', ', n] : [n])) : 'always on'))), 'No channels');
  fill($('providers'), o.providers.map((p) => el('tr', {}, el('td', {}, p.name), el('td', {}, p.state === 'closed' ? 'closed (healthy)' : p.state), el('td', { class: 'text' }, p.last_error || ''))), 'No providers');
  fill($('feedback'), o.agents.filter((a) => a.up || a.down).map((a) => el('tr', {}, el('td', {}, a.name), el('td', {}, a.up), el('td', {}, a.down))), 'No feedback yet');
  // 24 hourly buckets ending now; hours without executions are zero.
  const hour = 3600000, end = Math.floor(Date.parse(o.at) / hour) * hour;
  const byHour = new Map(o.series.map((b) => [Date.parse(b.at), b]));
  const hours = Array.from({ length: 24 }, (_, i) => end - (23 - i) * hour).map((t) => ({
    label: new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
    executions: (byHour.get(t) || {}).executions || 0, failures: (byHour.get(t) || {}).failures || 0,
  }));
  const count = (v) => String(v);
  barChart($('chart-activity'), hours, [
    { key: 'executions', name: 'executions', color: '#0b5cad', swatch: 'swatch-exec', format: count },
    { key: 'failures', name: 'failures', color: '#b00020', swatch: 'swatch-fail', format: count },
  ], `Executions and failures per hour: ${hours.reduce((n, h) => n + h.executions, 0)} executions, ${hours.reduce((n, h) => n + h.failures, 0)} failures in 24 hours`);
  const byDay = new Map(usage.by_day.map((d) => [d.day, d.cost_usd]));
  const days = Array.from({ length: 14 }, (_, i) => new Date(Date.parse(usage.since) + i * 86400000).toISOString().slice(0, 10)).map((d) => ({ label: d, cost: byDay.get(d) || 0 }));
  barChart($('chart-cost'), days, [{ key: 'cost', name: 'cost (USD)', color: '#6a3d9a', swatch: 'swatch-cost', format: usd }], `Cost per day: ${usd(usage.totals ? usage.totals.cost_usd : 0)} over 14 days`);
}

// ---- Agents: rows are updated in place, so polling never takes focus from a switch ----
async function agents() {
  const o = await api('/overview');
  const tbody = $('agents');
  for (const a of o.agents) {
    let row = tbody.querySelector(`tr[data-agent="${CSS.escape(a.name)}"]`);
    if (!row) {
      const toggle = el('input', { type: 'checkbox', role: 'switch', id: 'enable-' + a.name, 'aria-label': 'Enable ' + a.name });
      toggle.addEventListener('change', async () => {
        toggle.disabled = true;
        try { await send('PATCH', '/agents/' + encodeURIComponent(a.name), { enabled: toggle.checked, actor: 'console' }); showError(null); }
        catch (err) { toggle.checked = !toggle.checked; showError(err); }
        finally { toggle.disabled = false; }
      });
      row = el('tr', { 'data-agent': a.name }, el('th', { scope: 'row' }, a.name, el('div', { class: 'help' }, a.description)), el('td', {}, toggle),
        ...['runs', 'rate', 'up', 'down', 'latency', 'cost'].map((k) => el('td', { 'data-k': k })));
      tbody.append(row);
    }
    const toggle = row.querySelector('input');
    if (!toggle.disabled) toggle.checked = a.enabled;
    const cells = { runs: a.runs, rate: pct(a.success_rate), up: a.up, down: a.down, latency: ms(a.median_latency_ms) || '–', cost: usd(a.cost_usd) };
    for (const [k, v] of Object.entries(cells)) row.querySelector(`[data-k="${k}"]`).textContent = v;
  }
}

// ---- Paged lists: the filters come from the page's own query string; next_cursor pages back in time ----
function pagedList(path, field, render, empty) {
  const params = new URLSearchParams(location.search);
  for (const key of ['since', 'until']) {
    // datetime-local has no zone: it means the browser's local time.
    const v = params.get(key);
    if (v) params.set(key, new Date(v).toISOString());
  }
  for (const [k, v] of [...params]) if (!v) params.delete(k);
  const cursors = [];
  let next = null;
  async function load() {
    const q = new URLSearchParams(params);
    q.set('limit', '25');
    if (cursors.length) q.set('before', cursors[cursors.length - 1]);
    const body = await api(path + '?' + q);
    next = body.next_cursor;
    fill($(field), body[field].map(render), empty);
    $('older').disabled = !next;
    $('newest').disabled = !cursors.length;
    if ($('page-info')) $('page-info').textContent = 'Page ' + (cursors.length + 1);
  }
  $('older').addEventListener('click', () => { if (next) { cursors.push(next); load().catch(showError); } });
  $('newest').addEventListener('click', () => { cursors.length = 0; load().catch(showError); });
  // Only the newest page follows new rows; an older page stays where the reader is.
  live(() => (cursors.length ? Promise.resolve() : load()));
}

function executions() {
  pagedList('/executions', 'executions', (e) => el('tr', {},
    el('td', {}, el('a', { href: '/console/executions/' + e.id }, when(e.created_at))), el('td', {}, e.agent), el('td', {}, status(e.status)),
    el('td', {}, e.channel), el('td', { class: 'text' }, inputOf(e)), el('td', {}, e.provider || ''), el('td', {}, ms(e.latency_ms))), 'No executions match');
}

function conversations() {
  pagedList('/conversations', 'conversations', (c) => el('tr', {},
    el('td', {}, el('a', { href: '/console/conversations/' + c.id }, when(c.created_at))), el('td', {}, c.channel),
    el('td', { class: 'text' }, c.conversation_key), el('td', {}, c.message_count), el('td', {}, when(c.last_message_at))), 'No conversations match');
}

function details(dl, pairs) {
  dl.replaceChildren(...pairs.filter(([, v]) => v !== undefined).flatMap(([k, v]) => [el('dt', {}, k), el('dd', {}, v === null || v === '' ? '–' : v)]));
}

async function execution() {
  const id = document.body.dataset.id;
  const e = await api('/executions/' + encodeURIComponent(id));
  const convo = await api('/conversations/' + e.conversation_id).catch(() => null);
  const message = convo && convo.messages.find((m) => m.id === e.message_id);
  const conversationLink = el('a', { href: '/console/conversations/' + e.conversation_id }, e.conversation_id);
  details($('execution'), [
    ['Status', status(e.status)], ['Agent', e.agent], ['Intent', e.intent], ['Channel', e.channel], ['User', e.user_id],
    ['Input', message ? message.text : inputOf(e)], ['Output', e.reply ? e.reply.text : null],
    ['Provider', e.provider], ['Model', e.model],
    ['Tokens', e.input_tokens === null ? null : `${e.input_tokens} in, ${e.output_tokens} out`], ['Cost', e.cost_usd === null ? null : usd(e.cost_usd)],
    ['Latency', ms(e.latency_ms)], ['Error', e.error], ['Attempts', e.attempts], ['Conversation', conversationLink],
    ['Replay of', e.replay_of ? el('a', { href: '/console/executions/' + e.replay_of }, e.replay_of) : undefined],
    ['Created', when(e.created_at)], ['Finished', when(e.finished_at)], ['Id', e.id],
  ]);
}

function executionPage() {
  $('replay').addEventListener('click', async () => {
    $('replay').disabled = true;
    $('replay-info').textContent = 'Replaying…';
    try {
      const r = await send('POST', '/executions/' + encodeURIComponent(document.body.dataset.id) + '/replay');
      location.assign('/console/executions/' + r.execution_id);
    } catch (err) { showError(err); $('replay-info').textContent = ''; $('replay').disabled = false; }
  });
  live(execution);
}

async function conversation() {
  const id = encodeURIComponent(document.body.dataset.id);
  const [c, votes] = await Promise.all([api('/conversations/' + id), api('/conversations/' + id + '/feedback')]);
  const feedback = new Map(votes.feedback.map((v) => [v.execution_id, v]));
  details($('conversation'), [['Channel', c.channel], ['Key', c.conversation_key], ['Tenant', c.tenant_id], ['Started', when(c.created_at)], ['Messages', c.messages.length]]);
  $('messages').replaceChildren(...c.messages.map((m) => el('li', {},
    el('span', { class: 'role' }, (m.role === 'user' ? m.user_id || 'user' : 'assistant') + ' · ' + when(m.created_at)),
    m.text,
    m.execution_id && m.role === 'assistant' ? el('div', { class: 'help' }, el('a', { href: '/console/executions/' + m.execution_id }, 'Execution'),
      feedback.has(m.execution_id) ? ` · feedback: 👍 ${feedback.get(m.execution_id).up} 👎 ${feedback.get(m.execution_id).down}` : ' · no feedback') : null)));
}

// ---- Access: approve pairings, edit allow/deny lists, read the audit log ----
async function access() {
  const a = await api('/access');
  const act = (label, fn) => el('button', { type: 'button', onclick: () => fn().then(access).catch(showError) }, label);
  fill($('pending'), a.pending.map((p) => el('tr', {}, el('td', {}, el('code', {}, p.code)), el('td', {}, p.channel), el('td', {}, p.user_name || p.subject), el('td', {}, when(p.expires_at)),
    el('td', {}, act('Approve ' + p.code, () => send('POST', '/access', { code: p.code, actor: 'console' })), ' ',
      act('Refuse', () => send('DELETE', '/access/' + encodeURIComponent(p.code) + '?actor=console'))))), 'No one is waiting');
  fill($('rules'), a.rules.map((r) => el('tr', {}, el('td', {}, r.channel), el('td', {}, r.kind), el('td', {}, r.subject), el('td', {}, r.created_by), el('td', {}, when(r.created_at)),
    el('td', {}, act('Remove', () => send('DELETE', '/access/' + r.id + '?actor=console'))))), 'No stored rules');
  const channels = Object.keys(a.channels);
  const select = $('rule-channel');
  if (!select.options.length) select.append(...channels.map((c) => el('option', {}, c)));
  fill($('env-access'), channels.map((c) => { const s = a.channels[c]; return el('tr', {}, el('td', {}, c), el('td', {}, s.mode), el('td', {}, (s.allow || []).join(', ')), el('td', {}, (s.admins || []).join(', '))); }), '');
  fill($('audit'), a.audit.map((x) => el('tr', {}, el('td', {}, when(x.at)), el('td', {}, x.actor), el('td', {}, x.action), el('td', {}, x.channel || ''), el('td', {}, x.subject || ''))), 'Nothing changed yet');
}

function accessPage() {
  $('add-rule').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try { await send('POST', '/access', { channel: f.get('channel'), subject: f.get('subject'), kind: f.get('kind'), actor: 'console' }); ev.target.reset(); await access(); showError(null); }
    catch (err) { showError(err); }
  });
  live(access);
}

// ---- Playground: the web channel, with the reply streamed over server-sent events ----
async function follow(id, onText) {
  const res = await fetch('/api/executions/' + id + '/stream', { credentials: 'same-origin' });
  if (!res.ok) throw new Error(res.statusText);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '', final = { execution_id: id, status: 'running' };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return final;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const event = (/^event: (.*)$/m.exec(frame) || [])[1];
      const data = JSON.parse(frame.split('\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\n'));
      if (event === 'delta') onText(data.text); else final = data;
    }
  }
}

function playground() {
  const user = localStorage.getItem('sbUser') || 'console-' + Math.random().toString(36).slice(2, 8);
  localStorage.setItem('sbUser', user);
  let conversationId = sessionStorage.getItem('sbConversation') || undefined;
  const log = $('log');
  const line = (cls, text) => { const d = el('div', { class: cls }, text); log.append(d); log.scrollTop = 1e9; return d; };
  $('new-conversation').addEventListener('click', () => { conversationId = undefined; sessionStorage.removeItem('sbConversation'); log.replaceChildren(); $('text').focus(); });
  $('chat').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('text').value.trim();
    if (!text) return;
    $('text').value = '';
    line('user', 'you: ' + text);
    const bot = line('bot', '…');
    try {
      const posted = await send('POST', '/messages', { text, user_id: user, ...(conversationId ? { conversation_id: conversationId } : {}) });
      conversationId = posted.conversation_id;
      sessionStorage.setItem('sbConversation', conversationId);
      const r = await follow(posted.execution_id, (partial) => { bot.textContent = partial; log.scrollTop = 1e9; });
      bot.textContent = r.reply ? r.reply.text : '(' + r.status + (r.error ? ': ' + r.error : '') + ')';
      if (r.reply && r.reply.feedback) {
        const thanks = el('span', { role: 'status', class: 'help' });
        const rate = (label, name, score) => el('button', { type: 'button', 'aria-label': name + ' this reply', 'aria-pressed': 'false', onclick: async (e) => {
          try {
            await send('POST', '/feedback', { execution_id: r.execution_id, score, user_id: user });
            for (const b of e.target.parentNode.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === e.target));
            thanks.textContent = 'Thanks: rated ' + label;
          } catch (err) { showError(err); }
        } }, label);
        bot.append(el('div', { class: 'rate' }, rate('👍', 'Thumbs up', 1), rate('👎', 'Thumbs down', -1), thanks));
      }
      showError(null);
    } catch (err) { bot.remove(); showError(err); }
  });
}

const pages = { overview: () => live(overview), agents: () => live(agents), executions, conversations, access: accessPage, playground,
  execution: executionPage, conversation: () => live(conversation) };
if (page !== 'sign-in') {
  readiness();
  setInterval(readiness, POLL_MS * 2);
  // Detail pages share their list's tab in the navigation; the id says which view this is.
  const view = document.body.dataset.id ? page.replace(/s$/, '') : page;
  if (pages[view]) pages[view]();
}
