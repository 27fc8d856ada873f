/** `help`: the command words and which agents are on. Answers without a model so it works when everything else is down. */
import type { Agent } from '../ports.ts';
import { COMMANDS } from '../classify.ts';

export const helpAgent: Agent = {
  name: 'help',
  description: 'Lists commands and enabled agents.',
  usesLlm: false,
  async run(ctx) {
    const agents = await ctx.agents();
    const disabled = new Set(agents.filter((a) => !a.enabled).map((a) => a.name));
    const commands = COMMANDS.map((c) => `• ${c.usage} — ${c.description}${disabled.has(c.word) ? ' (disabled)' : ''}`);
    const enabled = agents.filter((a) => a.enabled).map((a) => `• ${a.name} — ${a.description}`);
    const lines = ['Switchboard commands:', ...commands, '', 'Enabled agents:', ...(enabled.length > 0 ? enabled : ['• none'])];
    if (disabled.size > 0) lines.push('', `Disabled agents: ${[...disabled].join(', ')}.`);
    return { text: lines.join('\n'), feedback: false };
  },
};
