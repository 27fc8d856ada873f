/** GET /: a small dashboard and web chat playground. It calls the same /api the CLI and tests use. */
export function dashboard(): string {
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<title>Switchboard</title>
<style>
body{font:14px/1.45 system-ui,sans-serif;margin:0;background:#f6f7f9;color:#1d2329}
header{background:#1d2329;color:#fff;padding:10px 20px;display:flex;gap:16px;align-items:center}
header h1{font-size:16px;margin:0}header input{flex:1;max-width:420px;padding:4px 8px}
main{display:grid;grid-template-columns:1fr 1fr;gap:16px;padding:16px}
section{background:#fff;border:1px solid #dde1e6;border-radius:6px;padding:12px;min-width:0}
#log{height:360px;overflow:auto;border:1px solid #eee;padding:8px;white-space:pre-wrap}
.user{color:#0b5cad}.bot{margin:4px 0 10px}.bot button{margin-right:4px}
table{width:100%;border-collapse:collapse;font-size:12px}td,th{border-bottom:1px solid #eee;padding:3px;text-align:left}
form{display:flex;gap:8px;margin-top:8px}form input{flex:1;padding:6px}.err{color:#b00020}
</style></head><body>
<header><h1>Switchboard</h1><label>Admin token <input id="token" type="password" placeholder="ADMIN_TOKEN (printed at start)"></label><span id="ready"></span></header>
<main>
<section><h2>Chat</h2><div id="log"></div>
<form id="chat"><input id="text" autocomplete="off" placeholder="help, status, summarize, a question, or paste a diff"><button>Send</button></form></section>
<section><h2>Recent executions</h2><table><thead><tr><th>agent</th><th>status</th><th>channel</th><th>provider</th><th>ms</th><th>at</th></tr></thead><tbody id="execs"></tbody></table>
<h2>Agents</h2><div id="agents"></div><h2>Feedback</h2><div id="feedback"></div></section>
</main>
<script>
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
    while ((end = buffer.indexOf('\\n\\n')) >= 0) {
      const frame = buffer.slice(0, end); buffer = buffer.slice(end + 2);
      const event = (/^event: (.*)$/m.exec(frame) || [])[1];
      const data = JSON.parse(frame.split('\\n').filter((l) => l.startsWith('data: ')).map((l) => l.slice(6)).join('\\n'));
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
</script></body></html>`;
}
