// The Access page: approve pairings, edit the allow, deny and admin lists, read the audit log.
import { $, api, el, fill, live, send, showError, when } from './common.js';

async function access() {
  const a = await api('/access');
  const act = (label, fn) => el('button', { type: 'button', onclick: () => fn().then(access).catch(showError) }, label);
  fill(
    $('pending'),
    a.pending.map((p) =>
      el(
        'tr',
        {},
        el('td', {}, el('code', {}, p.code)),
        el('td', {}, p.channel),
        el('td', {}, p.user_name || p.subject),
        el('td', {}, when(p.expires_at)),
        el(
          'td',
          {},
          act(`Approve ${p.code}`, () => send('POST', '/access', { code: p.code, actor: 'console' })),
          ' ',
          act('Refuse', () => send('DELETE', `/access/${encodeURIComponent(p.code)}?actor=console`)),
        ),
      ),
    ),
    'No one is waiting',
  );
  fill(
    $('rules'),
    a.rules.map((r) =>
      el(
        'tr',
        {},
        el('td', {}, r.channel),
        el('td', {}, r.kind),
        el('td', {}, r.subject),
        el('td', {}, r.created_by),
        el('td', {}, when(r.created_at)),
        el(
          'td',
          {},
          act('Remove', () => send('DELETE', `/access/${r.id}?actor=console`)),
        ),
      ),
    ),
    'No stored rules',
  );
  const channels = Object.keys(a.channels);
  const select = $('rule-channel');
  if (!select.options.length) select.append(...channels.map((c) => el('option', {}, c)));
  fill(
    $('env-access'),
    channels.map((c) => {
      const s = a.channels[c];
      return el('tr', {}, el('td', {}, c), el('td', {}, s.mode), el('td', {}, (s.allow || []).join(', ')), el('td', {}, (s.admins || []).join(', ')));
    }),
    '',
  );
  fill(
    $('audit'),
    a.audit.map((x) =>
      el('tr', {}, el('td', {}, when(x.at)), el('td', {}, x.actor), el('td', {}, x.action), el('td', {}, x.channel || ''), el('td', {}, x.subject || '')),
    ),
    'Nothing changed yet',
  );
}

function accessPage() {
  $('add-rule').addEventListener('submit', async (ev) => {
    ev.preventDefault();
    const f = new FormData(ev.target);
    try {
      await send('POST', '/access', { channel: f.get('channel'), subject: f.get('subject'), kind: f.get('kind'), actor: 'console' });
      ev.target.reset();
      await access();
      showError(null);
    } catch (err) {
      showError(err);
    }
  });
  live(access);
}

accessPage();
