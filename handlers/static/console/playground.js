// The Playground: the web channel, with the reply streamed over server-sent events and 👍/👎 on each answer.
import { $, el, send, showError } from './common.js';

async function follow(id, onText) {
  const res = await fetch(`/api/executions/${id}/stream`, { credentials: 'same-origin' });
  if (!res.ok) throw new Error(res.statusText);
  const reader = res.body.pipeThrough(new TextDecoderStream()).getReader();
  let buffer = '',
    final = { execution_id: id, status: 'running' };
  for (;;) {
    const { value, done } = await reader.read();
    if (done) return final;
    buffer += value;
    let end;
    while ((end = buffer.indexOf('\n\n')) >= 0) {
      const frame = buffer.slice(0, end);
      buffer = buffer.slice(end + 2);
      const event = (/^event: (.*)$/m.exec(frame) || [])[1];
      const data = JSON.parse(
        frame
          .split('\n')
          .filter((l) => l.startsWith('data: '))
          .map((l) => l.slice(6))
          .join('\n'),
      );
      if (event === 'delta') onText(data.text);
      else final = data;
    }
  }
}

function playground() {
  const user = localStorage.getItem('sbUser') || `console-${Math.random().toString(36).slice(2, 8)}`;
  localStorage.setItem('sbUser', user);
  let conversationId = sessionStorage.getItem('sbConversation') || undefined;
  const log = $('log');
  const line = (cls, text) => {
    const d = el('div', { class: cls }, text);
    log.append(d);
    log.scrollTop = 1e9;
    return d;
  };
  $('new-conversation').addEventListener('click', () => {
    conversationId = undefined;
    sessionStorage.removeItem('sbConversation');
    log.replaceChildren();
    $('text').focus();
  });
  $('chat').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const text = $('text').value.trim();
    if (!text) return;
    $('text').value = '';
    line('user', `you: ${text}`);
    const bot = line('bot', '…');
    try {
      const posted = await send('POST', '/messages', { text, user_id: user, ...(conversationId ? { conversation_id: conversationId } : {}) });
      conversationId = posted.conversation_id;
      sessionStorage.setItem('sbConversation', conversationId);
      const r = await follow(posted.execution_id, (partial) => {
        bot.textContent = partial;
        log.scrollTop = 1e9;
      });
      bot.textContent = r.reply ? r.reply.text : `(${r.status}${r.error ? `: ${r.error}` : ''})`;
      if (r.reply?.feedback) {
        const thanks = el('span', { role: 'status', class: 'help' });
        const rate = (label, name, score) =>
          el(
            'button',
            {
              type: 'button',
              'aria-label': `${name} this reply`,
              'aria-pressed': 'false',
              onclick: async (e) => {
                try {
                  await send('POST', '/feedback', { execution_id: r.execution_id, score, user_id: user });
                  for (const b of e.target.parentNode.querySelectorAll('button')) b.setAttribute('aria-pressed', String(b === e.target));
                  thanks.textContent = `Thanks: rated ${label}`;
                } catch (err) {
                  showError(err);
                }
              },
            },
            label,
          );
        bot.append(el('div', { class: 'rate' }, rate('👍', 'Thumbs up', 1), rate('👎', 'Thumbs down', -1), thanks));
      }
      showError(null);
    } catch (err) {
      bot.remove();
      showError(err);
    }
  });
}

playground();
