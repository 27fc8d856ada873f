/**
 * The worker: runs one execution attempt. The agent's answer is stored before it is delivered, so a
 * retry after a failed delivery re-sends the stored answer instead of asking the agent again.
 */
import type { Answer, ExecutionRow, StartedExecution, Store } from '../../db/index.ts';
import { scopeChain, type Budget, type LiveReplies, type LiveStream } from '../llm/index.ts';
import type { Metrics } from '../metrics.ts';
import type { Redactor } from '../redact.ts';
import { planPullRequestReview } from '../review/index.ts';
import type { Agent, AgentContext, AgentResult, Destination, IngressTraits, LlmChain, Logger, Prepared, StatusSnapshot } from '../ports.ts';
import type { Envelope, Intent, IntentName, Reply } from '../types.ts';
import { deferral, type Outbound } from './outbound.ts';
import { isAdmin } from './roles.ts';
import { recordVote } from './votes.ts';

export type WorkerDeps = {
  store: Store;
  agents: ReadonlyMap<string, Agent>;
  llm: LlmChain;
  /** The outbound step: sends the stored reply part by part (src/pipeline/outbound.ts). */
  outbound: Outbound;
  /** The ingress traits of a channel (whose unstamped envelopes count as the operator's). */
  traits(channel: string): IngressTraits;
  logger: Logger;
  /** Every failure passes through it before it is stored, logged or handed to the queue (which stores it too). */
  redactor: Redactor;
  metrics: Metrics;
  maxAttempts: number;
  now(): Date;
  startedAt: Date;
  onFinished(executionId: string): void;
  /** Daily token/cost budgets; over budget, model-using agents get the offline answer. */
  budget?: Budget;
  /** Streams answers to editable channel messages and SSE subscribers as they are generated. */
  live?: LiveReplies;
  /** The envelope's channel loads what the agent needs first (ChannelAdapter.prepare); undefined when it has nothing to load. */
  prepare?(envelope: Envelope, meta: { executionId: string; agent: string }): Promise<Prepared | undefined>;
};

export function createWorker(deps: WorkerDeps) {
  const { store, logger, metrics } = deps;
  // Concurrent `status` executions of one scope (a batch of them) share one set of reads instead of each paying for its own.
  const statusReads = sharedInFlight<StatusRows>();

  /**
   * The numbers `status` shows whoever asked: everything for an admin; for anyone else only their own tenant's
   * executions and failures (ids and error text of other tenants never reach their chat), while queue depth,
   * agents and provider health stay global.
   */
  async function status(execution: ExecutionRow, envelope: Envelope): Promise<StatusSnapshot> {
    const scope = isAdmin(envelope, deps.traits) ? undefined : { channel: execution.channel, tenantId: execution.tenantId };
    const [queueDepth, executionsLastHour, failures, agents, healthChecks] = await statusReads(scope ? `${scope.channel}\0${scope.tenantId}` : '', () =>
      Promise.all([
        store.queueDepth(),
        store.countsSince(new Date(deps.now().getTime() - 3_600_000), scope),
        store.recentFailures(5, scope),
        store.listAgents(),
        store.latestHealthChecks(),
      ]),
    );
    return {
      ...(scope ? { scope: scope.tenantId } : {}),
      queueDepth,
      executionsLastHour,
      recentFailures: failures.map((f) => ({ id: f.id, agent: f.agent, error: f.error, at: f.at?.toISOString() ?? '' })),
      agents: agents.map((a) => ({ name: a.name, enabled: a.enabled })),
      providers: deps.llm.health(),
      uptimeSeconds: Math.round((deps.now().getTime() - deps.startedAt.getTime()) / 1000),
      healthChecks,
      // Outages and the deliveries refused meanwhile (by channel) are the operator's to act on, not a member's.
      ...(scope ? {} : { database: database() }),
    };
  }

  /** The database's health, with how to get back the refused deliveries that no platform will send again. */
  function database(): NonNullable<StatusSnapshot['database']> {
    const health = store.health.snapshot();
    const redeliver = Object.keys(health.refused?.byChannel ?? {}).flatMap((channel) => deps.traits(channel).redeliver ?? []);
    return redeliver.length ? { ...health, redeliver } : health;
  }

  async function answer(execution: StartedExecution, prepared: Prepared | undefined, envelope: Envelope, live: LiveStream | undefined): Promise<AgentResult> {
    const agent = deps.agents.get(execution.agent);
    if (!agent) return { text: `There is no ${execution.agent} agent.`, data: { unknownAgent: true } };
    if (!(await store.isAgentEnabled(agent.name))) {
      return { text: `the ${agent.name} agent is disabled`, data: { agentDisabled: true } };
    }
    const scope = { tenantId: execution.tenantId, channel: execution.channel, userId: execution.userId };
    const overBudget = agent.usesLlm && deps.budget?.enabled ? await deps.budget.check(scope) : undefined;
    const ctx: AgentContext = {
      envelope,
      intent: { name: execution.intent as IntentName, args: execution.args } satisfies Intent,
      executionId: execution.id,
      conversationId: execution.conversationId,
      history: prepared?.history ?? execution.history,
      llm: scopeChain(deps.llm, { overBudget, onDelta: live?.onDelta }),
      logger,
      now: deps.now,
      async agents() {
        const rows = await store.listAgents();
        return rows
          .filter((r) => deps.agents.has(r.name))
          .map((r) => ({ name: r.name, enabled: r.enabled, description: deps.agents.get(r.name)!.description }));
      },
      status: () => status(execution, envelope),
      async recordFeedback(input) {
        // Where the vote was cast comes from the stored execution (what the platform signed), not from the agent's input.
        const voter = {
          userId: execution.userId,
          channel: execution.channel,
          tenantId: execution.tenantId,
          conversationId: execution.conversationId,
          ...(envelope.address !== undefined ? { address: envelope.address } : {}),
          admin: isAdmin(envelope, deps.traits),
        };
        const outcome = await recordVote(store, { ...(input.executionId !== undefined ? { executionId: input.executionId } : {}), score: input.score, voter });
        return outcome.recorded ? { executionId: outcome.executionId, score: outcome.score } : { error: outcome.reason };
      },
    };
    return agent.run(ctx);
  }

  /**
   * Votes the channel found by polling (GitHub reactions), cast in `envelope`'s conversation, through the one vote
   * path. Best effort: a vote that cannot be stored now is found again the next time the conversation is worked on.
   */
  async function recordPolledVotes(votes: NonNullable<Prepared['votes']>, envelope: Envelope, log: Logger): Promise<void> {
    const where = {
      channel: envelope.channel,
      tenantId: envelope.tenantId,
      conversationKey: envelope.conversationKey,
      ...(envelope.address !== undefined ? { address: envelope.address } : {}),
    };
    try {
      for (const vote of votes)
        await recordVote(store, { executionId: vote.executionId, score: vote.score, voter: { ...where, userId: vote.userId, admin: false } });
    } catch (err) {
      log.warn({ err }, 'could not record the votes found on the platform');
    }
  }

  /**
   * Runs one attempt. Throws on a failure with attempts left, so the queue retries it with backoff; a platform
   * rate limit instead re-queues the execution after the wait the platform asked for, without counting the attempt.
   */
  async function run(executionId: string, deferrals = 0): Promise<void> {
    const execution = await store.startAttempt(executionId);
    if (!execution) return; // already finished: a redelivered job after its work committed
    const started = performance.now();
    const log = (logger as Logger & { child?: (b: object) => Logger }).child?.({ executionId, agent: execution.agent }) ?? logger;
    const envelope = execution.envelope as unknown as Envelope;
    // An answer made in this attempt, until it is stored: before its first part goes out, or with the success.
    let unstored: Answer | undefined;
    try {
      let reply = execution.result as unknown as Reply | null;
      if (!reply) {
        const prepared = await deps.prepare?.(envelope, { executionId, agent: execution.agent });
        if (prepared?.votes?.length) await recordPolledVotes(prepared.votes, envelope, log);
        // The core decides what a pull-request review reads; the agent reviews exactly that diff.
        const review = prepared?.pullRequest ? await planPullRequestReview(store, prepared.pullRequest) : undefined;
        const asked = prepared?.envelope ?? envelope;
        // Routed replies go to a destination, not an editable message in the conversation.
        const live = deps.live?.open(executionId, execution.destination ? undefined : envelope);
        let result: AgentResult;
        try {
          result = await answer(execution, prepared, review ? { ...asked, text: review.text } : asked, live);
        } finally {
          await live?.close(); // no edit may land after the final reply
        }
        const { usage, ...rest } = result;
        // What the chain tried and how long it took rides along in the stored reply; the schema stays as it is.
        // (its fallbacks carry provider errors, which can quote a key or a URL)
        reply = usage?.trace ? { ...rest, data: { ...rest.data, llm: deps.redactor.value(usage.trace) } } : rest;
        // Kept with the answer, so even a retried delivery posts against what the answer was built from.
        if (prepared?.context) reply = { ...reply, context: prepared.context };
        if (review) reply = { ...reply, review: review.plan };
        unstored = { execution, reply, usage };
      }
      const storeAnswer = async () => {
        if (!unstored) return;
        await store.recordResult(unstored.execution, unstored.reply, unstored.usage);
        unstored = undefined;
      };
      const delivered = await deps.outbound(
        {
          executionId,
          envelope,
          destination: execution.destination as Destination | null,
          delivered: execution.delivered,
          beforeSend: storeAnswer,
        },
        reply,
      );
      await store.markSucceeded({
        id: executionId,
        latencyMs: Math.round(performance.now() - started),
        ...(delivered ? { delivered } : {}),
        ...(unstored ? { answer: unstored } : {}),
      });
      metrics.executions.inc({ agent: execution.agent, status: 'succeeded' });
      metrics.ingestToReply.observe({ channel: execution.channel }, (Date.now() - execution.receivedAt.getTime()) / 1000);
      deps.onFinished(executionId);
    } catch (caught) {
      // Platform SDK errors carry request URLs (Telegram's has the bot token) and auth headers; this is the one
      // place every failure passes before executions.error, the queue's stored job output and the log see it.
      const err = deps.redactor.value(caught);
      const message = err instanceof Error ? err.message : String(err);
      // A retry re-sends the answer made here instead of asking the agent again (unless the answer cannot be stored).
      if (unstored) {
        await store
          .recordResult(unstored.execution, unstored.reply, unstored.usage)
          .catch((storing: unknown) => log.warn({ err: deps.redactor.value(storing) }, 'could not store the answer of a failed attempt'));
      }
      const retryAfter = deferral(err, deferrals);
      if (retryAfter !== undefined) {
        await store.defer(executionId, `${message} (waiting ${retryAfter} s as the platform asked)`, retryAfter, deferrals + 1);
        log.warn(
          { err, retryAfterSeconds: retryAfter, deferrals: deferrals + 1 },
          'the platform rate-limited this execution; it runs again after the wait it asked for',
        );
        return;
      }
      const dead = execution.attempts >= deps.maxAttempts;
      await store.markFailed(executionId, message, dead, Math.round(performance.now() - started));
      metrics.executions.inc({ agent: execution.agent, status: dead ? 'dead' : 'failed' });
      log.warn({ err, attempt: execution.attempts, dead }, dead ? 'execution is dead after its last attempt' : 'execution attempt failed; will retry');
      if (!dead) throw err; // the queue retries with backoff
      // Dead is final: completing the job keeps the queue from retrying what the log says is over.
      deps.onFinished(executionId);
    }
  }

  /** The queue gave up on a job whose last attempt never finished (worker killed, job timeout): the execution is dead. */
  async function lost(executionId: string): Promise<void> {
    const error = deps.redactor.text(
      `the last attempt did not finish (its worker was killed, or it ran past JOB_TIMEOUT_SECONDS); run \`switchboard replay ${executionId}\` to try again`,
    );
    const agent = await store.markLost(executionId, error);
    if (agent === undefined) return; // it finished after all
    metrics.executions.inc({ agent, status: 'dead' });
    logger.warn({ executionId }, 'an execution lost its last attempt and is dead');
    deps.onFinished(executionId);
  }

  return { run, lost };
}

type StatusRows = [
  number,
  Record<string, number>,
  Awaited<ReturnType<Store['recentFailures']>>,
  Awaited<ReturnType<Store['listAgents']>>,
  StatusSnapshot['healthChecks'],
];

/**
 * Callers asking for the same key while a read is in flight share it, so what they get may be a few milliseconds
 * older than their asking: fine for a report, not for anything that decides.
 */
function sharedInFlight<T>() {
  const inFlight = new Map<string, Promise<T>>();
  return (key: string, read: () => Promise<T>): Promise<T> => {
    let reading = inFlight.get(key);
    if (!reading) {
      reading = read().finally(() => inFlight.delete(key));
      inFlight.set(key, reading);
    }
    return reading;
  };
}
