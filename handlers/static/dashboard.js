// The dashboard's script, served as GET /dashboard.js: the page's Content-Security-Policy allows no inline script.
const $ = (id) => document.getElementById(id);
$('token').value = localStorage.getItem('sbToken') || '';
$('token').onchange = () => { localStorage.setItem('sbToken', $('token').value); refresh(); };
const user = localStorage.getItem('sbUser') || ('web-' + Math.random().toString(36).slice(2, 8));
localStorage.setItem('sbUser', user);
async function api(path, opts = {}) {
  const res = await fetch('/api' + path, { ...opts, headers: { 'content-type': 'application/json', authorization: 'Bearer ' + $('token').value } });
  const body = await res.json();
  if (!res.ok) throw new Error(body.error ? body.error.message : res.statusText);
  return body;
}
function line(cls, text) { const d = document.createElement('div'); d.className = cls; d.textContent = text; $('log').append(d); $('log').scrollTop = 1e9; return d; }
$('chat').onsubmit = async (e) => {
  e.preventDefault(); const text = $('text').value.trim(); if (!text) return; $('text').value = '';
  line('user', user + ': ' + text);
  try {
    const posted = await api('/messages', { method: 'POST', body: JSON.stringify({ text, user_id: user, conversation_id: 'playground-' + user }) });
    const d = line('bot', '…');
    const r = await follow(posted.execution_id, (partial) => { d.textContent = partial; $('log').scrollTop = 1e9; });
    d.textContent = r.reply ? r.reply.text : '(' + r.status + ')';
    if (r.reply && r.reply.feedback) for (const [label, score] of [['👍', 1], ['👎', -1]]) {
      const b = document.createElement('button'); b.textContent = label;
      b.onclick = () => api('/feedback', { method: 'POST', body: JSON.stringify({ execution_id: r.execution_id, score, user_id: user }) }).then(() => { b.disabled = true; refresh(); });
      d.append(document.createElement('br'), b);
    }
  } catch (err) { line('err', String(err.message)); }
  refresh();
};
// Streams an execution's answer (server-sent events: delta…, then done) and resolves with the final state.
async function follow(id, onText) {
  const res = await fetch('/api/executions/' + id + '/stream', { headers: { authorization: 'Bearer ' + $('token').value } });
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
async function refresh() {
  fetch('/readyz').then(r => r.json()).then(r => $('ready').textContent = r.status);
  if (!$('token').value) return;
  try {
    const { executions } = await api('/executions?limit=15');
    $('execs').innerHTML = '';
    for (const e of executions) { const tr = document.createElement('tr'); for (const v of [e.agent, e.status, e.channel, e.provider || '', e.latency_ms ?? '', new Date(e.created_at).toLocaleTimeString()]) { const td = document.createElement('td'); td.textContent = v; tr.append(td); } $('execs').append(tr); }
    const { agents } = await api('/agents');
    $('agents').textContent = agents.map(a => a.name + (a.enabled ? '' : ' (disabled)')).join(', ');
    const f = await api('/feedback/summary');
    $('feedback').textContent = '👍 ' + f.up + '  👎 ' + f.down;
  } catch (err) { $('execs').innerHTML = '<tr><td class="err">' + String(err.message).replace(/</g, '&lt;') + '</td></tr>'; }
}
refresh(); setInterval(refresh, 5000);
