/** How chat channels list findings: one plain-text block that each channel then formats its own way (mrkdwn, HTML, plain). */
import type { Finding } from '../types.ts';

// Chat platforms cap message length (Telegram 4,096, WhatsApp 1,600); past this many, the list says how many more.
const MAX_LISTED = 25;

/** `• path:line — headline`: the first line of a finding's body is its headline. */
export function findingLine(finding: Finding): string {
  return `• ${finding.path}:${finding.line} — ${finding.body.split('\n')[0]}`;
}

/** The findings as a titled list of `findingLine`s, or '' when there are none. */
export function findingsText(findings: Finding[] | undefined): string {
  if (!findings?.length) return '';
  const lines = findings.slice(0, MAX_LISTED).map(findingLine);
  if (findings.length > MAX_LISTED) lines.push(`…and ${findings.length - MAX_LISTED} more.`);
  return `Findings (${findings.length}):\n${lines.join('\n')}`;
}
