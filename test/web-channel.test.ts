import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { createGithubAdapter } from '../channels/github/index.ts';
import { createChannelRegistry, createHooksAdapter } from '../channels/index.ts';
import { createSlackAdapter } from '../channels/slack/index.ts';
import { createTelegramAdapter } from '../channels/telegram/index.ts';
import { createWhatsAppAdapter } from '../channels/whatsapp/index.ts';
import { loadConfig } from '../src/config.ts';
import { createWebAdapter, normalizeWeb } from '../channels/web/index.ts';
import { NormalizeError } from '../src/ports.ts';
import type { ChannelAdapter, RawRequest } from '../src/ports.ts';
import { createOutbound } from '../src/pipeline/outbound.ts';
import type { Envelope, Reply } from '../src/types.ts';
import { runCli } from './support/process.ts';
import { ADMIN_TOKEN, startTestSwitchboard } from './support/switchboard.ts';
import { PASTED_DIFF } from './support/channel-contract.ts';
import { outbound } from './support/outbound.ts';

const NOW = new Date('2025-06-01T12:00:00Z');
const clock = () => NOW;

function request(body: unknown, headers: Record<string, string> = {}): RawRequest {
  const text = typeof body === 'string' ? body : JSON.stringify(body);
  return {
    body: new TextEncoder().encode(text),
    headers: new Headers({ 'content-type': 'application/json', authorization: 'Bearer admin', ...headers }),
    url: 'http://localhost/api/messages',
    params: {},
  };
}

/** The single envelope a request carries; fails the test if there is not exactly one. */
function only(envelopes: Envelope[]): Envelope {
  expect(envelopes).toHaveLength(1);
  return envelopes[0] as Envelope;
}

function normalizeError(req: RawRequest): NormalizeError {
  try {
    normalizeWeb(req, clock);
  } catch (error) {
    expect(error).toBeInstanceOf(NormalizeError);
    return error as NormalizeError;
  }
  throw new Error('expected normalizeWeb to throw');
}

describe('web channel: normalizing /api/messages', () => {
  const adapter = createWebAdapter({ now: clock });

  it('is always enabled and accepts any request at verify (the handler checks the admin token)', () => {
    expect(adapter.enabled).toBe(true);
    expect(adapter.requiredEnv).toEqual([]);
    expect(() => adapter.verify(request('anything', { authorization: '' }))).not.toThrow();
  });

  it('turns a message into an envelope in the given conversation', () => {
    const body = { text: 'what broke last night?', user_id: 'alice', conversation_id: 'ops:2025-06.01_a' };
    const envelope = only(normalizeWeb(request(body), clock));
    expect(envelope).toEqual({
      channel: 'web',
      deliveryId: expect.stringMatching(/^[0-9a-f-]{36}$/),
      tenantId: 'web',
      conversationKey: 'ops:2025-06.01_a',
      userId: 'alice',
      text: 'what broke last night?',
      receivedAt: NOW.toISOString(),
      raw: body,
    });
  });

  it("puts a user's messages without conversation_id into one conversation", () => {
    const first = only(normalizeWeb(request({ text: 'one', user_id: 'bob' }), clock));
    const second = only(normalizeWeb(request({ text: 'two', user_id: 'bob', conversation_id: null }), clock));
    expect(first.conversationKey).toBe('web:bob');
    expect(second.conversationKey).toBe('web:bob');
    expect(first.deliveryId).not.toBe(second.deliveryId);
  });

  it('uses Idempotency-Key as the delivery id so a client retry is deduplicated', () => {
    const req = () => request({ text: 'deploy', user_id: 'alice' }, { 'Idempotency-Key': 'req-123' });
    expect(only(normalizeWeb(req(), clock)).deliveryId).toBe('req-123');
    expect(only(normalizeWeb(req(), clock)).deliveryId).toBe('req-123');
  });

  it('rejects an oversized Idempotency-Key', () => {
    const error = normalizeError(request({ text: 'x', user_id: 'a' }, { 'idempotency-key': 'k'.repeat(257) }));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/Idempotency-Key/);
  });

  it('rejects malformed JSON', () => {
    const error = normalizeError(request('{"text": "hi",'));
    expect(error.code).toBe('malformed_json');
    expect(error.status).toBe(400);
  });

  it('rejects JSON that is not an object', () => {
    const error = normalizeError(request([{ text: 'hi', user_id: 'a' }]));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(/JSON object/);
  });

  it('lists every field problem at once', () => {
    const error = normalizeError(request({ text: '   ', conversation_id: 'has space' }));
    expect(error.code).toBe('invalid_request');
    expect(error.status).toBe(400);
    expect(error.message).toMatch(/text: must not be empty/);
    expect(error.message).toMatch(/user_id: is required/);
    expect(error.message).toMatch(/conversation_id: must be non-empty and use only/);
  });

  it.each([
    ['text is not a string', { text: 42, user_id: 'a' }, /text: is required and must be a string/],
    ['text is over 32 KiB', { text: 'x'.repeat(32 * 1024 + 1), user_id: 'a' }, /text: must be at most 32768 bytes/],
    ['text is over 32 KiB in UTF-8 bytes', { text: 'é'.repeat(16 * 1024 + 1), user_id: 'a' }, /text: must be at most/],
    ['user_id is empty', { text: 'hi', user_id: '' }, /user_id: must not be empty/],
    ['user_id is too long', { text: 'hi', user_id: 'u'.repeat(257) }, /user_id: must be at most 256/],
    ['conversation_id is empty', { text: 'hi', user_id: 'a', conversation_id: '' }, /conversation_id:/],
    ['conversation_id is too long', { text: 'hi', user_id: 'a', conversation_id: 'c'.repeat(257) }, /conversation_id: must be at most 256/],
    ['conversation_id has a slash', { text: 'hi', user_id: 'a', conversation_id: 'a/b' }, /conversation_id:/],
  ])('rejects a message when %s', (_, body, message) => {
    const error = normalizeError(request(body));
    expect(error.code).toBe('invalid_request');
    expect(error.message).toMatch(message);
  });

  it('accepts text of exactly 32 KiB and ids of exactly 256 characters', () => {
    const body = { text: 'x'.repeat(32 * 1024), user_id: 'u'.repeat(256), conversation_id: 'c'.repeat(256) };
    expect(only(normalizeWeb(request(body), clock)).text).toHaveLength(32 * 1024);
  });

  it('replies by doing nothing: the reply is read from the API', async () => {
    const envelope = only(normalizeWeb(request({ text: 'hi', user_id: 'a' }), clock));
    expect(adapter.send).toBeUndefined();
    await expect(outbound(adapter).reply(envelope, { text: 'hello' }, { executionId: 'e1' })).resolves.toBeUndefined();
  });
});

describe('channel registry', () => {
  function recording(channel: Envelope['channel']): ChannelAdapter & { calls: [Envelope, Reply, string][] } {
    const calls: [Envelope, Reply, string][] = [];
    return {
      channel,
      requiredEnv: [],
      enabled: true,
      traits: { throttled: true, sheddable: false, tenant: 'chat', operator: false },
      verify: () => {},
      normalize: () => ({ ignore: 'test' }),
      send: async (envelope, _part, meta) => {
        calls.push([envelope, meta.reply, meta.executionId]);
      },
      calls,
    };
  }
  const envelope = (channel: Envelope['channel']): Envelope => ({
    channel,
    deliveryId: 'd1',
    tenantId: 't',
    conversationKey: 'c',
    userId: 'u',
    text: 'hi',
    receivedAt: NOW.toISOString(),
  });

  it('finds adapters by channel and lists them all', () => {
    const web = createWebAdapter();
    const registry = createChannelRegistry([web]);
    expect(registry.get('web')).toBe(web);
    expect(registry.get('slack')).toBeUndefined();
    expect(registry.all()).toEqual([web]);
  });

  const deliverThrough = (registry: ReturnType<typeof createChannelRegistry>) =>
    createOutbound({ channel: (name) => registry.get(name), recordDelivered: async () => {} });

  it('the outbound step sends a reply through the adapter of the envelope channel only', async () => {
    const web = recording('web');
    const hooks = recording('hooks');
    const deliver = deliverThrough(createChannelRegistry([web, hooks]));
    expect(await deliver({ executionId: 'e7', envelope: envelope('hooks') }, { text: 'done' })).toEqual({ parts: 1, total: 1 });
    expect(hooks.calls).toEqual([[envelope('hooks'), { text: 'done' }, 'e7']]);
    expect(web.calls).toEqual([]);
  });

  it('the outbound step fails clearly for a channel with no adapter, or a destination that cannot take one', async () => {
    const deliver = deliverThrough(createChannelRegistry([recording('web')]));
    await expect(deliver({ executionId: 'e9', envelope: envelope('slack') }, { text: 'x' })).rejects.toThrow(
      /no adapter for channel "slack"; cannot deliver the reply to execution e9/,
    );
    await expect(deliver({ executionId: 'e9', envelope: envelope('web'), destination: { channel: 'web', target: 'x' } }, { text: 'x' })).rejects.toThrow(
      /channel "web" cannot be a routing destination/,
    );
  });

  it('says how each channel is treated on the way in, so the core never names one', () => {
    const config = loadConfig({});
    const registry = createChannelRegistry([
      createHooksAdapter({ secretFor: () => undefined }),
      createWebAdapter(),
      createSlackAdapter(config.slack),
      createTelegramAdapter(config.telegram),
      createWhatsAppAdapter(config.whatsapp, undefined),
      createGithubAdapter(config.github, { memory: {} as never }),
    ]);
    const traits = Object.fromEntries(registry.all().map((a) => [a.channel, a.traits]));
    // People are throttled; signed systems and GitHub (which never redelivers a 429'd event) are not.
    expect(Object.keys(traits).filter((c) => traits[c]!.throttled)).toEqual(['web', 'slack', 'telegram', 'whatsapp']);
    // Only generic webhooks are shed under load; chat platforms would retry into a larger backlog.
    expect(Object.keys(traits).filter((c) => traits[c]!.sheddable)).toEqual(['hooks']);
    expect(Object.keys(traits).filter((c) => traits[c]!.operator)).toEqual(['hooks', 'web']);
    expect(Object.keys(traits).filter((c) => traits[c]!.redeliver)).toEqual(['github']);
    expect(Object.fromEntries(Object.entries(traits).map(([c, t]) => [c, t.tenant]))).toEqual({
      hooks: 'webhook source',
      web: 'chat',
      slack: 'workspace',
      telegram: 'chat',
      whatsapp: 'chat',
      github: 'repository',
    });
    expect(registry.traits('unknown')).toMatchObject({ throttled: true, sheddable: false, operator: false });
  });

  it('refuses two adapters for one channel', () => {
    expect(() => createChannelRegistry([recording('web'), recording('web')])).toThrow(/registered twice/);
  });
});

describe('web channel: a pasted diff', () => {
  const diff = PASTED_DIFF;
  const findings = ['src/app.ts:2 — Debug leftover', 'src/app.ts:3 — TODO added'];

  it('answers with the findings as JSON beside the text, not written into it', async () => {
    const sb = await startTestSwitchboard('pglite');
    try {
      const { body } = await sb.api('POST', '/api/messages?wait=1', { text: diff, user_id: 'dev' });
      expect(body.reply.findings.map((f: { line: number; severity: string }) => [f.line, f.severity])).toEqual([
        [2, 'medium'],
        [3, 'low'],
      ]);
      expect(body.reply.text).not.toMatch(/src\/app\.ts:\d/);
    } finally {
      await sb.close();
    }
  });

  it('`simulate web` prints each finding exactly once', { timeout: 60_000 }, async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'sb-web-diff-'));
    try {
      const { code, output } = await runCli(['simulate', 'web', diff], { DATA_DIR: dataDir, ADMIN_TOKEN });
      expect(code).toBe(0);
      for (const finding of findings) expect(output.split(finding)).toHaveLength(2);
      for (const at of ['src/app.ts:2', 'src/app.ts:3']) expect(output.split(at)).toHaveLength(2);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});
