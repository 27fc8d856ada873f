/**
 * Daily budgets per tenant (workspace, chat, repository, hook source) and per user, in tokens and in
 * US dollars, over the UTC day. Checked before an agent runs: over budget, no provider is called and
 * the offline provider answers, saying so. Usage is read from the execution log (one source of truth),
 * so every process agrees; an answer that starts under the limit may finish a little over it.
 */

export type BudgetLimits = { tenantTokens: number; userTokens: number; tenantCostUsd: number; userCostUsd: number };

export type UsageTotals = { tokens: number; costUsd: number };

export type BudgetScope = { tenantId: string; channel: string; userId: string };

/** Provider usage (offline excluded) since `since`, for the tenant and for the user within the channel. */
export type UsageReader = (scope: BudgetScope & { since: Date }) => Promise<{ tenant: UsageTotals; user: UsageTotals }>;

export type Budget = {
  readonly enabled: boolean;
  /** Undefined when within budget; otherwise why not, in words a user can read. */
  check(scope: BudgetScope): Promise<string | undefined>;
};

const tokens = new Intl.NumberFormat('en-US');
const usd = (n: number) => `$${n.toFixed(n < 1 ? 4 : 2)}`;

export function startOfUtcDay(at: Date): Date {
  return new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()));
}

/** `tenant`: what a tenant of a channel is called in a user's words (its `tenant` trait: "workspace", "repository"). */
export function createBudget(opts: { limits: BudgetLimits; read: UsageReader; tenant(channel: string): string; now?: () => Date }): Budget {
  const { limits, read } = opts;
  const now = opts.now ?? (() => new Date());
  const enabled = Object.values(limits).some((v) => v > 0);
  return {
    enabled,
    async check(scope) {
      if (!enabled) return undefined;
      const used = await read({ ...scope, since: startOfUtcDay(now()) });
      const over = (limit: number, value: number) => limit > 0 && value >= limit;
      if (over(limits.tenantTokens, used.tenant.tokens)) {
        return `this ${opts.tenant(scope.channel)} has used ${tokens.format(used.tenant.tokens)} of its ${tokens.format(limits.tenantTokens)} daily AI tokens`;
      }
      if (over(limits.tenantCostUsd, used.tenant.costUsd)) {
        return `this ${opts.tenant(scope.channel)} has spent ${usd(used.tenant.costUsd)} of its ${usd(limits.tenantCostUsd)} daily AI budget`;
      }
      if (over(limits.userTokens, used.user.tokens)) {
        return `you have used ${tokens.format(used.user.tokens)} of your ${tokens.format(limits.userTokens)} daily AI tokens`;
      }
      if (over(limits.userCostUsd, used.user.costUsd)) {
        return `you have spent ${usd(used.user.costUsd)} of your ${usd(limits.userCostUsd)} daily AI budget`;
      }
      return undefined;
    },
  };
}
