/** What a refused person reads: one sentence each, saying what to do. */

export function pairingAnswer(code: string, ttlSeconds: number): string {
  return `To talk to this bot, ask an admin to run \`npx switchboard access approve ${code}\` (the code expires in ${Math.round(ttlSeconds / 60)} minutes).`;
}

export function notAllowedAnswer(channel: string, person: string): string {
  return `This bot only answers people an admin has allowed; ask an admin to run \`npx switchboard access allow ${channel} ${person}\`.`;
}

export function externalAnswer(): string {
  return 'This app only answers people of the workspace that installed it.';
}

export function roleAnswer(agent: string): string {
  return `Only an admin can use \`${agent}\` here.`;
}

const hhmm = (d: Date) => d.toISOString().slice(11, 16);

export function quotaAnswer(limit: number, resetAt: Date, now: Date): string {
  const minutes = Math.max(1, Math.ceil((resetAt.getTime() - now.getTime()) / 60_000));
  return `Sorry, you have reached your limit of ${limit} requests per hour; you can ask again at ${hhmm(resetAt)} UTC (in ${minutes} minute${minutes === 1 ? '' : 's'}).`;
}
