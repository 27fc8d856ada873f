// One execution (with Replay) or one conversation (its messages and the votes on each answer).
import { $, api, details, el, inputOf, live, ms, send, showError, status, usd, when } from './common.js';

async function execution() {
  const id = document.body.dataset.id;
  const e = await api(`/executions/${encodeURIComponent(id)}`);
  const convo = await api(`/conversations/${e.conversation_id}`).catch(() => null);
  const message = convo?.messages.find((m) => m.id === e.message_id);
  const conversationLink = el('a', { href: `/console/conversations/${e.conversation_id}` }, e.conversation_id);
  details($('execution'), [
    ['Status', status(e.status)],
    ['Agent', e.agent],
    ['Intent', e.intent],
    ['Channel', e.channel],
    ['User', e.user_id],
    ['Input', message ? message.text : inputOf(e)],
    ['Output', e.reply ? e.reply.text : null],
    ['Provider', e.provider],
    ['Model', e.model],
    ['Tokens', e.input_tokens === null ? null : `${e.input_tokens} in, ${e.output_tokens} out`],
    ['Cost', e.cost_usd === null ? null : usd(e.cost_usd)],
    ['Latency', ms(e.latency_ms)],
    ['Error', e.error],
    ['Attempts', e.attempts],
    ['Delivered', e.delivered ? `${e.delivered.parts} of ${e.delivered.total ?? '?'} parts` : undefined],
    ['Conversation', conversationLink],
    ['Replay of', e.replay_of ? el('a', { href: `/console/executions/${e.replay_of}` }, e.replay_of) : undefined],
    ['Created', when(e.created_at)],
    ['Finished', when(e.finished_at)],
    ['Id', e.id],
  ]);
}

function executionPage() {
  $('replay').addEventListener('click', async () => {
    $('replay').disabled = true;
    $('replay-info').textContent = 'Replaying…';
    try {
      const r = await send('POST', `/executions/${encodeURIComponent(document.body.dataset.id)}/replay`);
      location.assign(`/console/executions/${r.execution_id}`);
    } catch (err) {
      showError(err);
      $('replay-info').textContent = '';
      $('replay').disabled = false;
    }
  });
  live(execution);
}

async function conversation() {
  const id = encodeURIComponent(document.body.dataset.id);
  const [c, votes] = await Promise.all([api(`/conversations/${id}`), api(`/conversations/${id}/feedback`)]);
  const feedback = new Map(votes.feedback.map((v) => [v.execution_id, v]));
  details($('conversation'), [
    ['Channel', c.channel],
    ['Key', c.conversation_key],
    ['Tenant', c.tenant_id],
    ['Started', when(c.created_at)],
    ['Messages', c.messages.length],
  ]);
  $('messages').replaceChildren(
    ...c.messages.map((m) =>
      el(
        'li',
        {},
        el('span', { class: 'role' }, `${m.role === 'user' ? m.user_id || 'user' : 'assistant'} · ${when(m.created_at)}`),
        m.text,
        m.execution_id && m.role === 'assistant'
          ? el(
              'div',
              { class: 'help' },
              el('a', { href: `/console/executions/${m.execution_id}` }, 'Execution'),
              feedback.has(m.execution_id) ? ` · feedback: 👍 ${feedback.get(m.execution_id).up} 👎 ${feedback.get(m.execution_id).down}` : ' · no feedback',
            )
          : null,
      ),
    ),
  );
}

if (document.body.dataset.page === 'executions') executionPage();
else live(conversation);
