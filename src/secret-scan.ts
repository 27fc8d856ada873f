/** Spots credentials in a line of code: well-known token formats, and secret-looking values assigned to secret-sounding names. */

const TOKEN_SECRETS: { what: string; pattern: RegExp }[] = [
  { what: 'an AWS access key id', pattern: /\b(AKIA|ASIA)[0-9A-Z]{16}\b/ },
  { what: 'a private key', pattern: /-----BEGIN (?:[A-Z]+ )*PRIVATE KEY(?: BLOCK)?-----/ },
  { what: 'a GitHub token', pattern: /\b(gh[pousr]_[A-Za-z0-9]{36,}|github_pat_[A-Za-z0-9_]{22,})/ },
  { what: 'a Slack token', pattern: /\bxox[abposr]-[A-Za-z0-9-]{10,}/ },
  { what: 'an API secret key', pattern: /\b(sk-(?=[\w-]*\d)(?=[\w-]*[A-Z])[A-Za-z0-9_-]{20,}|[sr]k_live_[A-Za-z0-9]{20,})/ },
];
const PASSWORD = /(?<![\w-])([\w-]*(?:password|passwd|pwd)|(?:[\w-]*[_-])?pass)["']?\s*[:=]\s*(["'`])([^"'`\n]*)\2/i;
const SECRET_NAME =
  /(?<![\w-])([\w-]*(?:secret|token|api[_-]?key|apikey|access[_-]?key|private[_-]?key|signing[_-]?key|credentials?))["']?\s*[:=]\s*(["'`])([^"'`\s]{16,})\2/i;
const PLACEHOLDER = /^$|^(\$\{.*\}|\{\{.*\}\}|<.*>|%s|\*+|x+|\.+|password|process\.env\..*)$/i;

/**
 * Names what a line of code seems to leak, with the value redacted; null when nothing looks secret.
 * `inTest` relaxes the guessing rules: fixtures are full of fake passwords.
 */
export function findSecret(text: string, inTest: boolean): string | null {
  for (const { what, pattern } of TOKEN_SECRETS) {
    const match = pattern.exec(text);
    if (match) return `${what} (\`${redact(match[0])}\`)`;
  }
  // Only the unmistakable token formats above are checked in tests.
  if (inTest) return null;
  const password = PASSWORD.exec(text);
  if (password && !PLACEHOLDER.test(password[3])) return `a password assigned to \`${password[1]}\``;
  const named = SECRET_NAME.exec(text);
  const value = named?.[3] ?? '';
  if (named && !PLACEHOLDER.test(value) && !value.includes('://') && /\d/.test(value) && /[A-Za-z]/.test(value) && entropy(value) >= 3.5) {
    return `a high-entropy value assigned to \`${named[1]}\``;
  }
  return null;
}

function redact(secret: string): string {
  return secret.startsWith('-----') ? secret : `${secret.slice(0, 4)}…`;
}

/** Shannon entropy in bits per character: random keys score high, words and identifiers low. */
function entropy(value: string): number {
  const counts = new Map<string, number>();
  for (const ch of value) counts.set(ch, (counts.get(ch) ?? 0) + 1);
  let bits = 0;
  for (const n of counts.values()) bits -= (n / value.length) * Math.log2(n / value.length);
  return bits;
}
