// The Executions and Conversations lists: the filters come from the page's own query string; next_cursor pages back in time.
import { $, api, el, fill, inputOf, live, ms, showError, status, when } from './common.js';

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
    const body = await api(`${path}?${q}`);
    next = body.next_cursor;
    fill($(field), body[field].map(render), empty);
    $('older').disabled = !next;
    $('newest').disabled = !cursors.length;
    if ($('page-info')) $('page-info').textContent = `Page ${cursors.length + 1}`;
  }
  $('older').addEventListener('click', () => {
    if (next) {
      cursors.push(next);
      load().catch(showError);
    }
  });
  $('newest').addEventListener('click', () => {
    cursors.length = 0;
    load().catch(showError);
  });
  // Only the newest page follows new rows; an older page stays where the reader is.
  live(() => (cursors.length ? Promise.resolve() : load()));
}

function executions() {
  pagedList(
    '/executions',
    'executions',
    (e) =>
      el(
        'tr',
        {},
        el('td', {}, el('a', { href: `/console/executions/${e.id}` }, when(e.created_at))),
        el('td', {}, e.agent),
        el('td', {}, status(e.status)),
        el('td', {}, e.channel),
        el('td', { class: 'text' }, inputOf(e)),
        el('td', {}, e.provider || ''),
        el('td', {}, ms(e.latency_ms)),
      ),
    'No executions match',
  );
}

function conversations() {
  pagedList(
    '/conversations',
    'conversations',
    (c) =>
      el(
        'tr',
        {},
        el('td', {}, el('a', { href: `/console/conversations/${c.id}` }, when(c.created_at))),
        el('td', {}, c.channel),
        el('td', { class: 'text' }, c.conversation_key),
        el('td', {}, c.message_count),
        el('td', {}, when(c.last_message_at)),
      ),
    'No conversations match',
  );
}

if (document.body.dataset.page === 'executions') executions();
else conversations();
