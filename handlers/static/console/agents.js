// The Agents page: a switch per agent and its numbers; rows are updated in place, so polling never takes focus from a switch.
import { $, api, el, live, ms, pct, send, showError, usd } from './common.js';

async function agents() {
  const o = await api('/overview');
  const tbody = $('agents');
  for (const a of o.agents) {
    let row = tbody.querySelector(`tr[data-agent="${CSS.escape(a.name)}"]`);
    if (!row) {
      const toggle = el('input', { type: 'checkbox', role: 'switch', id: `enable-${a.name}`, 'aria-label': `Enable ${a.name}` });
      toggle.addEventListener('change', async () => {
        toggle.disabled = true;
        try {
          await send('PATCH', `/agents/${encodeURIComponent(a.name)}`, { enabled: toggle.checked, actor: 'console' });
          showError(null);
        } catch (err) {
          toggle.checked = !toggle.checked;
          showError(err);
        } finally {
          toggle.disabled = false;
        }
      });
      row = el(
        'tr',
        { 'data-agent': a.name },
        el('th', { scope: 'row' }, a.name, el('div', { class: 'help' }, a.description)),
        el('td', {}, toggle),
        ...['runs', 'rate', 'up', 'down', 'latency', 'cost'].map((k) => el('td', { 'data-k': k })),
      );
      tbody.append(row);
    }
    const toggle = row.querySelector('input');
    if (!toggle.disabled) toggle.checked = a.enabled;
    const cells = { runs: a.runs, rate: pct(a.success_rate), up: a.up, down: a.down, latency: ms(a.median_latency_ms) || '–', cost: usd(a.cost_usd) };
    for (const [k, v] of Object.entries(cells)) row.querySelector(`[data-k="${k}"]`).textContent = v;
  }
}

live(agents);
