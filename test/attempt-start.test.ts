/**
 * An attempt's start (db/executions.ts startAttempts): one statement claims the attempts of a batch and reads each
 * one's history as its agent sees it. On every database, including a young one whose planner has no statistics.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type OpenedStore, openStore } from '../db/index.ts';
import type { Envelope } from '../src/types.ts';
import { createTestDatabase, databaseKinds, type TestDatabase } from './support/databases.ts';

describe.each(databaseKinds)('starting attempts on %s', (kind) => {
  let database: TestDatabase;
  let opened: OpenedStore;

  beforeAll(async () => {
    database = await createTestDatabase(kind);
    opened = await openStore({
      dataDir: database.env.DATA_DIR!,
      ...(database.env.DATABASE_URL ? { databaseUrl: database.env.DATABASE_URL } : {}),
      queue: { maxAttempts: 2, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
    });
    await opened.store.seedAgents(['ask', 'feedback']);
  }, 120_000);

  afterAll(async () => {
    await opened?.close();
    await database?.drop();
  });

  /** Stores one message of `conversation` for `agent` and gives back its execution. */
  async function say(conversation: string, text: string, agent = 'ask') {
    const envelope = {
      channel: 'web',
      deliveryId: randomUUID(),
      tenantId: 'T1',
      conversationKey: conversation,
      userId: 'U1',
      text,
      replyRef: {},
      receivedAt: new Date().toISOString(),
    } as unknown as Envelope;
    const stored = await opened.store.ingest(envelope, [{ agent, intent: { name: agent as never, args: {} } }]);
    if (!('executionId' in stored)) throw new Error('not stored');
    return stored.executionId;
  }

  /**
   * Runs an execution to success with `answer` as its reply, stored with the success (a channel that delivers
   * nothing) or before its delivery.
   */
  async function answer(id: string, text: string, stored: 'with success' | 'before delivery' = 'with success') {
    const started = await opened.store.startAttempt(id);
    if (stored === 'before delivery') {
      await opened.store.recordResult(started!, { text }, undefined);
      await opened.store.markSucceeded({ id, latencyMs: 1 });
    } else {
      await opened.store.markSucceeded({ id, latencyMs: 1, answer: { execution: started!, reply: { text }, usage: undefined } });
    }
  }

  it('claims each attempt of a batch and gives each the conversation before its message, oldest first, without votes', async () => {
    const conversation = `c-${randomUUID()}`;
    await answer(await say(conversation, 'the deploy failed'), 'which service?');
    await answer(await say(conversation, '+1', 'feedback'), 'Thanks — recorded');
    await answer(await say(conversation, '-1', 'feedback'), 'Thanks — recorded', 'before delivery');
    const question = await say(conversation, 'billing, why?');
    const other = await say(`c-${randomUUID()}`, 'hello');
    const [asked, alone] = await Promise.all([opened.store.startAttempt(question), opened.store.startAttempt(other)]);
    expect(asked).toMatchObject({ id: question, status: 'running', attempts: 1 });
    expect(asked!.history.map((m) => [m.role, m.text])).toEqual([
      ['user', 'the deploy failed'],
      ['assistant', 'which service?'],
    ]);
    expect(asked!.history[0]).toMatchObject({ userId: 'U1', at: expect.stringMatching(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/) });
    expect(alone).toMatchObject({ id: other, attempts: 1, history: [] });
  });

  it('gives an execution only what was said before its message (as a replay or a late retry sees it), and nothing once it finished', async () => {
    const conversation = `c-${randomUUID()}`;
    const first = await say(conversation, 'one');
    await answer(await say(conversation, 'two'), 'answer to two');
    const again = await opened.store.startAttempt(first);
    expect(again).toMatchObject({ attempts: 1, history: [] });
    await answer(first, 'answer to one');
    expect(await opened.store.startAttempt(first)).toBeUndefined();
  });

  it('keeps at most the 50 latest messages', async () => {
    const conversation = `c-${randomUUID()}`;
    for (let i = 0; i < 30; i++) await answer(await say(conversation, `q${i}`), `a${i}`);
    const started = await opened.store.startAttempt(await say(conversation, 'last'));
    expect(started!.history).toHaveLength(50);
    expect(started!.history[0]!.text).toBe('q5');
    expect(started!.history.at(-1)!.text).toBe('a29');
  });
});
