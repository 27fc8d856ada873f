/** Models the installed SDKs mark deprecated, what to set instead, and one warning per process and model. */
import type { Logger } from '../ports.ts';

/** The model each provider uses when ANTHROPIC_MODEL / OPENAI_MODEL is unset: current models neither SDK marks deprecated. */
export const DEFAULT_MODELS = { anthropic: 'claude-sonnet-4-6', openai: 'gpt-5.4-mini' } as const;

export type Deprecation = { provider: 'anthropic' | 'openai'; model: string; endOfLife: string; instead: string };

/**
 * Copied from the SDKs, which do not export them: @anthropic-ai/sdk 1.13 `internal/data/deprecated-models`
 * (the table behind its "is deprecated and will reach end-of-life" warning; test/deprecations.test.ts fails when
 * the installed SDK's table differs) and openai 7.57 `resources/shared.d.ts` (the "Deprecated values" of
 * `ChatModel`, announced shutdown dates, less "gpt-5.1-mini", which it calls no supported model id; that SDK warns
 * about none of them at run time; the same test checks this table against that comment).
 */
const ANTHROPIC: Record<string, string> = {
  'claude-mythos-preview': 'June 30th, 2026',
  'claude-opus-4-5': 'January 22nd, 2027',
  'claude-opus-4-5-20251101': 'January 22nd, 2027',
  'claude-sonnet-4-5': 'November 30th, 2026',
  'claude-sonnet-4-5-20250929': 'November 30th, 2026',
};

const OPENAI: Record<string, string> = {
  ...dated('2027-04-01', 'gpt-5.4-nano', 'gpt-5.4-nano-2026-03-17', 'gpt-5.1', 'gpt-5.1-2025-11-13'),
  ...dated(
    '2027-01-14',
    'gpt-4.1',
    'gpt-4.1-mini',
    'gpt-4.1-2025-04-14',
    'gpt-4.1-mini-2025-04-14',
    'gpt-4o',
    'gpt-4o-2024-11-20',
    'gpt-4o-2024-08-06',
    'gpt-4o-mini',
    'gpt-4o-mini-2024-07-18',
  ),
  ...dated('2026-12-11', 'gpt-5', 'gpt-5-mini', 'gpt-5-nano', 'gpt-5-2025-08-07', 'gpt-5-mini-2025-08-07', 'gpt-5-nano-2025-08-07', 'o3', 'o3-2025-04-16'),
  ...dated(
    '2026-10-23',
    'gpt-4.1-nano',
    'gpt-4.1-nano-2025-04-14',
    'o4-mini',
    'o4-mini-2025-04-16',
    'o3-mini',
    'o3-mini-2025-01-31',
    'o1',
    'o1-2024-12-17',
    'gpt-4o-2024-05-13',
    'gpt-4-turbo',
    'gpt-4-turbo-2024-04-09',
    'gpt-4-1106-preview',
    'gpt-4',
    'gpt-4-0613',
    'gpt-3.5-turbo',
    'gpt-3.5-turbo-0125',
  ),
  ...dated('2026-09-28', 'gpt-3.5-turbo-1106'),
  ...dated('2026-08-10', 'gpt-5.3-chat-latest', 'gpt-5.2-chat-latest'),
  ...dated('2027-01-20', 'gpt-audio-mini', 'gpt-audio-mini-2025-12-15'),
  ...dated(
    '2026-07-23',
    'gpt-5.1-codex',
    'gpt-5.1-chat-latest',
    'gpt-5-chat-latest',
    'gpt-4o-search-preview',
    'gpt-4o-mini-search-preview',
    'gpt-4o-search-preview-2025-03-11',
    'gpt-4o-mini-search-preview-2025-03-11',
  ),
  ...dated(
    '2026-05-07',
    'gpt-4o-audio-preview',
    'gpt-4o-audio-preview-2024-12-17',
    'gpt-4o-audio-preview-2025-06-03',
    'gpt-4o-mini-audio-preview',
    'gpt-4o-mini-audio-preview-2024-12-17',
  ),
  ...dated('2026-03-26', 'gpt-4-0125-preview', 'gpt-4-turbo-preview', 'gpt-4-0314'),
  ...dated('2026-02-17', 'chatgpt-4o-latest'),
  ...dated('2026-02-12', 'codex-mini-latest'),
  ...dated('2025-10-27', 'o1-mini', 'o1-mini-2024-09-12'),
  ...dated('2025-10-10', 'gpt-4o-audio-preview-2024-10-01'),
  ...dated('2025-07-28', 'o1-preview', 'o1-preview-2024-09-12'),
  ...dated('2025-06-06', 'gpt-4-32k', 'gpt-4-32k-0314', 'gpt-4-32k-0613'),
  ...dated('2024-12-06', 'gpt-4-vision-preview'),
  ...dated('2024-09-13', 'gpt-3.5-turbo-16k', 'gpt-3.5-turbo-0301', 'gpt-3.5-turbo-0613', 'gpt-3.5-turbo-16k-0613'),
};

/** The tables as the SDKs have them, for the test that keeps them in step. */
export const DEPRECATED_MODELS: Readonly<Record<'anthropic' | 'openai', Readonly<Record<string, string>>>> = { anthropic: ANTHROPIC, openai: OPENAI };

function dated(date: string, ...models: string[]): Record<string, string> {
  return Object.fromEntries(models.map((m) => [m, date]));
}

/** The deprecation of `model` at `provider`, or undefined when neither SDK marks it. */
export function deprecationOf(provider: string, model: string): Deprecation | undefined {
  if (provider !== 'anthropic' && provider !== 'openai') return undefined;
  const endOfLife = (provider === 'anthropic' ? ANTHROPIC : OPENAI)[model];
  return endOfLife === undefined ? undefined : { provider, model, endOfLife, instead: DEFAULT_MODELS[provider] };
}

/** What to tell an operator about a deprecated model: when it ends and what to set instead. */
export function deprecationAdvice(d: Deprecation): string {
  const variable = d.provider === 'anthropic' ? 'ANTHROPIC_MODEL' : 'OPENAI_MODEL';
  return `${variable}=${d.model} is deprecated by ${d.provider} (end of life ${d.endOfLife}); set ${variable}=${d.instead} or unset it for that default`;
}

const warned = new Set<string>();

/**
 * Logs one warning per process and model: the SDK's own text when it printed one (the Anthropic SDK writes it to
 * the console on every call), else ours.
 */
export function warnDeprecatedOnce(logger: Logger, provider: string, model: string, sdkText?: string): void {
  const key = `${provider}:${model}`;
  if (warned.has(key)) return;
  const d = deprecationOf(provider, model);
  if (!d && !sdkText) return;
  warned.add(key);
  logger.warn({ provider, model, sdk: sdkText }, d ? deprecationAdvice(d) : `the ${provider} SDK warns about model ${model}`);
}
