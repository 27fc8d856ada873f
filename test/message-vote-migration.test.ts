/**
 * Migration 0009: a message says whether it is a vote (messages.vote), so history reads need no lookup of its
 * execution. A database an older release wrote is migrated when Switchboard starts on it: the messages of its
 * feedback executions (the "+1" and its acknowledgement) become votes, and its agents' history leaves them out as
 * it did before; every other message stays conversation. On embedded PGlite and on PostgreSQL.
 */
import { randomUUID } from 'node:crypto';
import { afterAll, describe, expect, it } from 'vitest';
import { openStore } from '../db/index.ts';
import { createTestDatabase, databaseKinds } from './support/databases.ts';
import { type OlderWrite, writeAsOlderRelease } from './support/older-release.ts';

const BEFORE = 9; // migrations 0000-0008: the release before messages.vote

const cleanups: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const cleanup of cleanups.reverse()) await cleanup();
});

describe.each(databaseKinds)('migrating to messages that say they are votes on %s', (kind) => {
  it("marks an older database's feedback messages as votes, and history still leaves them out", { timeout: 120_000 }, async () => {
    const database = await createTestDatabase(kind);
    cleanups.push(() => database.drop());
    const conversation = randomUUID();
    const question = randomUUID();
    // [who, text, the agent of the execution the message names (none: no execution; 'gone': one deleted since)]
    const said: ['user' | 'assistant', string, string | undefined][] = [
      ['user', 'the deploy failed', 'ask'],
      ['assistant', 'which service?', 'ask'],
      ['user', '+1', 'feedback'],
      ['assistant', 'Thanks — recorded', 'feedback'],
      ['user', 'from before executions were kept', undefined],
      ['user', 'its execution was deleted', 'gone'],
      ['user', 'billing, why?', 'ask'],
    ];
    const writes: OlderWrite[] = [
      { text: `insert into conversations (id, channel, tenant_id, conversation_key) values ($1, 'web', 'T1', 'k1')`, params: [conversation] },
    ];
    let asked: string | null = null; // the execution of the latest question: its answer names it
    for (const [n, [role, text, agent]] of said.entries()) {
      const message = n === said.length - 1 ? question : randomUUID();
      const at = new Date(Date.UTC(2026, 0, 1, 0, 0, n)).toISOString();
      if (role === 'user') asked = agent === undefined ? null : randomUUID();
      writes.push({
        text: 'insert into messages (id, conversation_id, role, user_id, text, execution_id, created_at) values ($1, $2, $3, $4, $5, $6, $7)',
        params: [message, conversation, role, role === 'user' ? 'U1' : null, text, asked, at],
      });
      if (role === 'user' && agent !== undefined && agent !== 'gone') {
        writes.push({
          text: `insert into executions (id, conversation_id, message_id, channel, tenant_id, user_id, agent, intent, envelope, received_at, status)
                 values ($1, $2, $3, 'web', 'T1', 'U1', $4, $4, '{}', $5, $6)`,
          params: [asked, conversation, message, agent, at, message === question ? 'queued' : 'succeeded'],
        });
      }
    }
    await writeAsOlderRelease(database, BEFORE, writes);

    // Switchboard starts on it: the migrations it lacks are applied.
    const opened = await openStore({
      dataDir: database.env.DATA_DIR!,
      ...(database.env.DATABASE_URL ? { databaseUrl: database.env.DATABASE_URL } : {}),
      queue: { maxAttempts: 3, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
    });
    cleanups.push(() => opened.close());

    const conversational = ['the deploy failed', 'which service?', 'from before executions were kept', 'its execution was deleted'];
    expect((await opened.store.history(conversation, null)).map((m) => m.text)).toEqual([...conversational, 'billing, why?']);
    const [waiting] = (await opened.store.getConversation(conversation))!.messages.filter((m) => m.id === question);
    const started = await opened.store.startAttempt(waiting!.executionId!);
    expect(started!.history.map((m) => m.text)).toEqual(conversational);
    const votes = (await opened.store.getConversation(conversation))!.messages.filter((m) => m.vote).map((m) => m.text);
    expect(votes).toEqual(['+1', 'Thanks — recorded']);
  });
});
