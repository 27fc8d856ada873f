/** `status`: live operational numbers. No model, so it still answers when the providers are down. */
import type { Agent, StatusSnapshot } from '../ports.ts';

export const statusAgent: Agent = {
  name: 'status',
  description: 'Reports queue depth, agents, recent failures and provider health.',
  usesLlm: false,
  // It reports on every tenant: an operator's view, not a member's.
  requiredRole: 'admin',
  async run(ctx) {
    return { text: formatStatus(await ctx.status()), feedback: false };
  },
};

/** How much of an error a chat shows: enough to recognize it; the execution log (`/api/executions/:id`) has it all. */
const ERROR_CHARS = 160;

const clip = (text: string) => (text.length > ERROR_CHARS ? `${text.slice(0, ERROR_CHARS - 1)}…` : text);

/** Renders a snapshot as plain text that reads well on every channel. */
function formatStatus(s: StatusSnapshot): string {
  // A member's numbers are their own tenant's; the line says so, so nobody mistakes them for the whole hub's.
  const where = s.scope ? ` in ${s.scope}` : '';
  const runs = Object.entries(s.executionsLastHour).filter(([, n]) => n > 0);
  const enabled = s.agents.filter((a) => a.enabled).map((a) => a.name);
  const disabled = s.agents.filter((a) => !a.enabled).map((a) => a.name);
  const lines = [
    `Switchboard status — up ${formatDuration(s.uptimeSeconds)}`,
    `Queue: ${s.queueDepth} job${s.queueDepth === 1 ? '' : 's'} waiting`,
    `Executions in the last hour${where}: ${runs.length > 0 ? runs.map(([status, n]) => `${status} ${n}`).join(', ') : 'none'}`,
    `Agents enabled: ${enabled.join(', ') || 'none'}${disabled.length > 0 ? `; disabled: ${disabled.join(', ')}` : ''}`,
    `Providers: ${s.providers.map((p) => `${p.name} ${p.state}${p.lastError ? ` (last error: ${p.lastError})` : ''}`).join(', ') || 'none'}`,
  ];
  if (s.healthChecks?.length) {
    lines.push(
      `Health checks: ${s.healthChecks.map((h) => `${h.component} ${h.ok ? 'ok' : 'FAILING'}${h.detail ? ` (${h.detail})` : ''} at ${h.at}`).join('; ')}`,
    );
  }
  if (s.database?.outage || s.database?.refused) lines.push(formatDatabase(s.database));
  if (s.recentFailures.length > 0) {
    lines.push(`Recent failures${where}:`, ...s.recentFailures.map((f) => `• ${f.at} ${f.agent} ${f.id}: ${clip(f.error ?? 'unknown error')}`));
  } else {
    lines.push(`Recent failures${where}: none`);
  }
  return lines.join('\n');
}

/** The last outage and the deliveries refused meanwhile, with how to redeliver those no platform sends again. */
function formatDatabase(d: NonNullable<StatusSnapshot['database']>): string {
  const parts = [`Database: ${d.up ? 'up' : 'UNREACHABLE'}`];
  if (d.outage) {
    const end = d.outage.end
      ? ` to ${d.outage.end.toISOString()} (${formatDuration((d.outage.end.getTime() - d.outage.start.getTime()) / 1000)})`
      : ', still down';
    parts.push(`${d.outage.end ? 'last outage' : 'outage'} from ${d.outage.start.toISOString()}${end}`);
  }
  if (d.refused) {
    const by = Object.entries(d.refused.byChannel)
      .map(([channel, n]) => `${channel} ${n}`)
      .join(', ');
    parts.push(
      `${d.refused.count} deliver${d.refused.count === 1 ? 'y' : 'ies'} refused with 503 between ${d.refused.first.toISOString()} and ${d.refused.last.toISOString()} (${by})`,
    );
    parts.push(...(d.redeliver ?? []));
  }
  return parts.join('; ');
}

function formatDuration(totalSeconds: number): string {
  const s = Math.max(0, Math.floor(totalSeconds));
  const parts = [
    [Math.floor(s / 86_400), 'd'],
    [Math.floor((s % 86_400) / 3600), 'h'],
    [Math.floor((s % 3600) / 60), 'm'],
  ]
    .filter(([n]) => (n as number) > 0)
    .map(([n, unit]) => `${n}${unit}`);
  return parts.length > 0 ? parts.join(' ') : `${s}s`;
}
