/** The body of each console page. The server renders the structure and the filters; the script fills in data from /api. */
import { html } from 'hono/html';

const STATUSES = ['queued', 'running', 'succeeded', 'failed', 'dead'] as const;

export function overviewBody() {
  return html`<div class="cards" id="numbers" aria-live="polite">
<div class="card"><span class="label">Queue depth</span><span class="value" id="queue-depth">–</span></div>
<div class="card"><span class="label">Executions per minute (last hour)</span><span class="value" id="per-minute">–</span></div>
<div class="card"><span class="label">Failures (last hour)</span><span class="value" id="failures">–</span></div>
</div>
<div class="grid">
<section aria-labelledby="h-activity"><h2 id="h-activity">Executions and failures, last 24 hours</h2><div id="chart-activity" class="chart"></div></section>
<section aria-labelledby="h-cost"><h2 id="h-cost">Cost per day, last 14 days</h2><div id="chart-cost" class="chart"></div></section>
<section aria-labelledby="h-channels"><h2 id="h-channels">Channels</h2>
<table><thead><tr><th scope="col">Channel</th><th scope="col">State</th><th scope="col">Turned on by</th></tr></thead><tbody id="channels"></tbody></table></section>
<section aria-labelledby="h-providers"><h2 id="h-providers">Providers</h2>
<table><thead><tr><th scope="col">Provider</th><th scope="col">Circuit breaker</th><th scope="col">Last error</th></tr></thead><tbody id="providers"></tbody></table></section>
<section aria-labelledby="h-feedback"><h2 id="h-feedback">Feedback per agent</h2>
<table><thead><tr><th scope="col">Agent</th><th scope="col">👍</th><th scope="col">👎</th></tr></thead><tbody id="feedback"></tbody></table></section>
</div>`;
}

export function agentsBody(days: number) {
  return html`<p class="help">Runs, outcomes, latency and cost over the last ${days} days; feedback over all time.</p>
<table><thead><tr><th scope="col">Agent</th><th scope="col">Enabled</th><th scope="col">Runs</th><th scope="col">Success rate</th>
<th scope="col">👍</th><th scope="col">👎</th><th scope="col">Median latency</th><th scope="col">Cost</th></tr></thead>
<tbody id="agents"></tbody></table>`;
}

/** The filters are a GET form: a filtered view is a link that can be shared or reloaded. */
export function executionsBody(q: Record<string, string | undefined>) {
  const selected = (v: string) => (q.status === v ? html` selected` : '');
  return html`<form class="filters" method="get" action="/console/executions" aria-label="Filter executions">
<label>Channel <input name="channel" value="${q.channel ?? ''}" size="10"></label>
<label>Agent <input name="agent" value="${q.agent ?? ''}" size="10"></label>
<label>Status <select name="status"><option value="">any</option>${STATUSES.map((s) => html`<option${selected(s)}>${s}</option>`)}</select></label>
<label>Since <input name="since" type="datetime-local" value="${q.since ?? ''}"></label>
<label>Until <input name="until" type="datetime-local" value="${q.until ?? ''}"></label>
<label>Search <input name="q" type="search" value="${q.q ?? ''}" size="18"></label>
<button type="submit">Filter</button>
</form>
<table><thead><tr><th scope="col">Time</th><th scope="col">Agent</th><th scope="col">Status</th><th scope="col">Channel</th>
<th scope="col">Input</th><th scope="col">Provider</th><th scope="col">Latency</th></tr></thead><tbody id="executions"></tbody></table>
<nav class="pager" aria-label="Pages"><button type="button" id="newest">Newest</button> <button type="button" id="older">Older</button> <span id="page-info" aria-live="polite"></span></nav>`;
}

export function executionBody() {
  return html`<p><a href="/console/executions">← All executions</a></p>
<div class="actions"><button type="button" id="replay">Replay</button> <span id="replay-info" role="status" aria-live="polite"></span></div>
<dl id="execution" class="detail"></dl>`;
}

export function conversationsBody(q: Record<string, string | undefined>) {
  return html`<form class="filters" method="get" action="/console/conversations" aria-label="Filter conversations">
<label>Channel <input name="channel" value="${q.channel ?? ''}" size="10"></label>
<label>Search <input name="q" type="search" value="${q.q ?? ''}" size="18"></label>
<button type="submit">Filter</button>
</form>
<table><thead><tr><th scope="col">Started</th><th scope="col">Channel</th><th scope="col">Key</th><th scope="col">Messages</th><th scope="col">Last message</th></tr></thead>
<tbody id="conversations"></tbody></table>
<nav class="pager" aria-label="Pages"><button type="button" id="newest">Newest</button> <button type="button" id="older">Older</button></nav>`;
}

export function conversationBody() {
  return html`<p><a href="/console/conversations">← All conversations</a></p>
<dl id="conversation" class="detail"></dl>
<ol id="messages" class="messages"></ol>`;
}

export function accessBody() {
  return html`<section aria-labelledby="h-pending"><h2 id="h-pending">Pending pairings</h2>
<table><thead><tr><th scope="col">Code</th><th scope="col">Channel</th><th scope="col">Who</th><th scope="col">Expires</th><th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody id="pending"></tbody></table></section>
<section aria-labelledby="h-rules"><h2 id="h-rules">Allow and deny lists</h2>
<form id="add-rule" class="filters" aria-label="Add a rule">
<label>Channel <select name="channel" id="rule-channel"></select></label>
<label>Who <input name="subject" required size="20"></label>
<label>List <select name="kind"><option value="allow">allow</option><option value="deny">deny</option><option value="admin">admin</option></select></label>
<button type="submit">Add</button></form>
<table><thead><tr><th scope="col">Channel</th><th scope="col">List</th><th scope="col">Who</th><th scope="col">By</th><th scope="col">Added</th><th scope="col"><span class="sr">Actions</span></th></tr></thead><tbody id="rules"></tbody></table>
<h3>From the environment</h3><table><thead><tr><th scope="col">Channel</th><th scope="col">Mode</th><th scope="col">Allowed</th><th scope="col">Admins</th></tr></thead><tbody id="env-access"></tbody></table></section>
<section aria-labelledby="h-audit"><h2 id="h-audit">Audit log</h2>
<table><thead><tr><th scope="col">When</th><th scope="col">Who</th><th scope="col">Action</th><th scope="col">Channel</th><th scope="col">Subject</th></tr></thead><tbody id="audit"></tbody></table></section>`;
}

export function playgroundBody() {
  return html`<p class="help">Talk to the agents through the web channel: <code>help</code>, <code>status</code>, <code>summarize</code>, a question, or a pasted diff.</p>
<div id="log" class="log" role="log" aria-live="polite" aria-label="Conversation"></div>
<form id="chat" class="chat"><label for="text" class="sr">Message</label>
<input id="text" autocomplete="off" placeholder="Write a message" required><button type="submit">Send</button>
<button type="button" id="new-conversation">New conversation</button></form>`;
}
