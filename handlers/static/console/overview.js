// The Overview page: numbers, charts of executions, failures and cost, channels, providers and feedback per agent.
import { $, api, el, fill, live, svg, usd } from './common.js';

// ---- Charts: small inline SVG, one bar group per bucket, with a text alternative ----
function barChart(target, points, series, label) {
  const width = 600,
    height = 170,
    pad = 24;
  const max = Math.max(1e-9, ...points.flatMap((p) => series.map((s) => p[s.key])));
  const step = (width - pad) / Math.max(points.length, 1);
  const bars = [];
  points.forEach((p, i) => {
    series.forEach((s, j) => {
      const h = ((height - pad) * p[s.key]) / max;
      const w = Math.max(1, step / series.length - 1);
      bars.push(
        svg(
          'rect',
          { x: pad + i * step + j * w, y: height - pad - h, width: w, height: h, fill: s.color },
          svg('title', {}, document.createTextNode(`${p.label}: ${s.format(p[s.key])} ${s.name}`)),
        ),
      );
    });
  });
  const axis = [
    svg('line', { x1: pad, y1: height - pad, x2: width, y2: height - pad, stroke: '#9aa5b1' }),
    svg('text', { x: 0, y: 12, 'font-size': 11, fill: '#5b6570' }, document.createTextNode(series[0].format(max))),
    svg('text', { x: pad, y: height - 6, 'font-size': 11, fill: '#5b6570' }, document.createTextNode(points[0] ? points[0].label : '')),
    svg(
      'text',
      { x: width, y: height - 6, 'font-size': 11, fill: '#5b6570', 'text-anchor': 'end' },
      document.createTextNode(points.length ? points[points.length - 1].label : ''),
    ),
  ];
  const chart = svg('svg', { viewBox: `0 0 ${width} ${height}`, role: 'img', 'aria-label': label }, ...axis, ...bars);
  const legend = el(
    'p',
    { class: 'legend' },
    series.map((s) => [el('span', { class: s.swatch, 'aria-hidden': 'true' }, '■ '), `${s.name}  `]),
  );
  target.replaceChildren(chart, legend);
}

async function overview() {
  const [o, usage] = await Promise.all([api('/overview'), api('/usage?days=14')]);
  $('queue-depth').textContent = o.queue.depth + (o.queue.degraded ? ' (over the limit)' : '');
  $('per-minute').textContent = o.last_hour.per_minute;
  $('failures').textContent = o.last_hour.failures;
  fill(
    $('channels'),
    o.channels.map((c) =>
      el(
        'tr',
        {},
        el('td', {}, c.channel),
        el('td', {}, el('span', { class: c.enabled ? 'on' : 'off' }, c.enabled ? 'on' : 'off')),
        el('td', {}, c.required_env.length ? c.required_env.map((v) => el('code', {}, v)).flatMap((n, i) => (i ? [', ', n] : [n])) : 'always on'),
      ),
    ),
    'No channels',
  );
  fill(
    $('providers'),
    o.providers.map((p) =>
      el('tr', {}, el('td', {}, p.name), el('td', {}, p.state === 'closed' ? 'closed (healthy)' : p.state), el('td', { class: 'text' }, p.last_error || '')),
    ),
    'No providers',
  );
  fill(
    $('feedback'),
    o.agents.filter((a) => a.up || a.down).map((a) => el('tr', {}, el('td', {}, a.name), el('td', {}, a.up), el('td', {}, a.down))),
    'No feedback yet',
  );
  // 24 hourly buckets ending now; hours without executions are zero.
  const hour = 3600000,
    end = Math.floor(Date.parse(o.at) / hour) * hour;
  const byHour = new Map(o.series.map((b) => [Date.parse(b.at), b]));
  const hours = Array.from({ length: 24 }, (_, i) => end - (23 - i) * hour).map((t) => ({
    label: new Date(t).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit', hourCycle: 'h23' }),
    executions: byHour.get(t)?.executions || 0,
    failures: byHour.get(t)?.failures || 0,
  }));
  const count = (v) => String(v);
  barChart(
    $('chart-activity'),
    hours,
    [
      { key: 'executions', name: 'executions', color: '#0b5cad', swatch: 'swatch-exec', format: count },
      { key: 'failures', name: 'failures', color: '#b00020', swatch: 'swatch-fail', format: count },
    ],
    `Executions and failures per hour: ${hours.reduce((n, h) => n + h.executions, 0)} executions, ${hours.reduce((n, h) => n + h.failures, 0)} failures in 24 hours`,
  );
  const byDay = new Map(usage.by_day.map((d) => [d.day, d.cost_usd]));
  const days = Array.from({ length: 14 }, (_, i) => new Date(Date.parse(usage.since) + i * 86400000).toISOString().slice(0, 10)).map((d) => ({
    label: d,
    cost: byDay.get(d) || 0,
  }));
  barChart(
    $('chart-cost'),
    days,
    [{ key: 'cost', name: 'cost (USD)', color: '#6a3d9a', swatch: 'swatch-cost', format: usd }],
    `Cost per day: ${usd(usage.totals ? usage.totals.cost_usd : 0)} over 14 days`,
  );
}

live(overview);
