/**
 * `switchboard access list|allow|deny|approve <code>|revoke`: the operator's side of the access policy, through
 * the same /api/access the dashboard and scripts use.
 */
import { userInfo } from 'node:os';
import { parseArgs } from 'node:util';
import { PAIRING_CODE } from './codes.ts';

/** Calls the admin API; throws on an error answer with its code and message. */
export type ApiCall = (method: string, path: string, body?: unknown) => Promise<{ status: number; json: Record<string, any> }>;

export const ACCESS_USAGE = `access list                       rules, pending pairings and the settings from the environment
  access approve <code>             let the person (or group chat) who got this pairing code talk to the agents
  access allow <channel> <id> [--admin] [--note TEXT]
                                    allow a person or place up front (Slack team/channel/user, Telegram user/chat,
                                    WhatsApp +number, GitHub login, owner/repo or owner/*); --admin grants the admin role
  access deny <channel> <id>        refuse a person or place (wins over every allow)
  access revoke <rule-id | code | channel id>
                                    delete a rule, refuse a pending pairing, or delete every rule naming <id>`;

export class AccessUsageError extends Error {}

function who(): string {
  try {
    return `cli:${userInfo().username}`.replace(/[^\w.:@-]/g, '_').slice(0, 100);
  } catch {
    return 'cli';
  }
}

const line = (r: Record<string, any>) => `${r.id}  ${r.channel.padEnd(9)} ${r.kind.padEnd(6)} ${r.subject}${r.note ? `  (${r.note})` : ''}  by ${r.created_by}`;

export async function accessCommand(api: ApiCall, args: string[], print: (text: string) => void = console.log): Promise<number> {
  const [action = 'list', ...rest] = args;
  const actor = who();
  if (action === 'list') {
    const { json } = await api('GET', '/api/access');
    print('Settings (environment):');
    for (const [channel, s] of Object.entries<Record<string, any>>(json.channels)) {
      const extra = [s.allow.length ? `allow ${s.allow.join(',')}` : '', s.admins.length ? `admins ${s.admins.join(',')}` : ''].filter(Boolean).join('; ');
      print(`  ${channel.padEnd(9)} ${s.mode}${extra ? `  (${extra})` : ''}`);
    }
    print(`  quota     ${json.quota_per_hour ? `${json.quota_per_hour} executions per person per hour` : 'none'}`);
    print('Rules:');
    for (const r of json.rules) print(`  ${line(r)}`);
    if (!json.rules.length) print('  none');
    print('Pending pairings (approve with `switchboard access approve <code>`):');
    for (const p of json.pending)
      print(
        `  ${p.code}  ${p.channel.padEnd(9)} ${p.scope === 'chat' ? 'group chat' : 'person'} ${p.subject}${p.user_name ? ` (${p.user_name})` : ''}  expires ${p.expires_at}`,
      );
    if (!json.pending.length) print('  none');
    return 0;
  }
  if (action === 'approve') {
    const code = rest[0];
    if (!code || !PAIRING_CODE.test(code)) throw new AccessUsageError('access approve needs the pairing code the person got, e.g. access approve 4F7K-Q2');
    const { json } = await api('POST', '/api/access', { code, actor });
    print(`approved: ${json.channel} ${json.subject} may now talk to the agents (rule ${json.id})`);
    return 0;
  }
  if (action === 'allow' || action === 'deny') {
    const { values, positionals } = parseArgs({ args: rest, allowPositionals: true, options: { admin: { type: 'boolean' }, note: { type: 'string' } } });
    const [channel, subject] = positionals;
    if (!channel || !subject) throw new AccessUsageError(`access ${action} needs a channel and an id, e.g. access ${action} telegram 123456789`);
    const kind = action === 'deny' ? 'deny' : values.admin ? 'admin' : 'allow';
    const { json } = await api('POST', '/api/access', { channel, subject, kind, note: values.note, actor });
    print(`${kind === 'deny' ? 'denied' : kind === 'admin' ? 'admin' : 'allowed'}: ${json.channel} ${json.subject} (rule ${json.id})`);
    return 0;
  }
  if (action === 'revoke') {
    const [first, second] = rest;
    if (!first) throw new AccessUsageError('access revoke needs a rule id, a pairing code, or a channel and an id');
    if (second === undefined) {
      await api('DELETE', `/api/access/${encodeURIComponent(first)}?actor=${encodeURIComponent(actor)}`);
      print(`revoked ${first}`);
      return 0;
    }
    const { json } = await api('GET', '/api/access');
    const matching = (json.rules as Record<string, any>[]).filter((r) => r.channel === first && r.subject.toLowerCase() === second.toLowerCase());
    if (!matching.length) throw new Error(`no rule names ${first} ${second}; see \`switchboard access list\``);
    for (const r of matching) await api('DELETE', `/api/access/${r.id}?actor=${encodeURIComponent(actor)}`);
    print(`revoked ${matching.length} rule${matching.length === 1 ? '' : 's'} naming ${first} ${second}`);
    return 0;
  }
  throw new AccessUsageError('access takes list, approve <code>, allow <channel> <id>, deny <channel> <id> or revoke <id>');
}
