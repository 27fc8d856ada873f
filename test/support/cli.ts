/** Runs a CLI verb in this process, as `npx switchboard <verb>` would run it: same main, same environment rules. */
import { main } from '../../src/cli.ts';
import { RELAXED_ACCESS_ENV } from './process.ts';

/**
 * The exit code and everything printed (stdout and stderr, in order). The environment is only what the test gives,
 * with the same relaxed access a child process gets (test/support/process.ts), never this process's own.
 */
export async function runCliInProcess(args: string[], env: Record<string, string>): Promise<{ code: number; output: string }> {
  const lines: string[] = [];
  const print = (text: string) => void lines.push(text);
  const code = await main(args, { out: print, err: print, env: { LOG_LEVEL: 'warn', ...RELAXED_ACCESS_ENV, ...env } });
  return { code, output: lines.join('\n') };
}
