/** Access control as an operator sees it in tests: the `access` CLI verb against a test server, and the refusal metric. */
import { accessCommand } from '../../src/access/index.ts';
import type { TestSwitchboard } from './switchboard.ts';

/** The `access` CLI verb, run against `sb`'s API: its exit code and what it printed. */
export function accessCli(sb: TestSwitchboard) {
  return async (...args: string[]) => {
    const out: string[] = [];
    const code = await accessCommand(
      async (method, path, body) => {
        const res = await sb.api(method, path, body);
        if (res.status >= 400) throw new Error(`${res.body.error.code}: ${res.body.error.message}`);
        return { status: res.status, json: res.body };
      },
      args,
      (line) => out.push(line),
    );
    return { code, output: out.join('\n') };
  };
}

/** How many messages on `channel` the access policy refused for `reason`, as /metrics counts them. */
export async function accessDenied(sb: TestSwitchboard, channel: string, reason: string): Promise<number> {
  const text = await (await sb.app.request('/metrics')).text();
  return Number(new RegExp(`switchboard_access_denied_total\\{channel="${channel}",reason="${reason}"\\} (\\d+)`).exec(text)?.[1] ?? 0);
}
