import { Webhook } from 'standardwebhooks';
import { describe, expect, it } from 'vitest';
import { createHooksAdapter, isValidHookSource, normalizeHook, verifyHook } from '../channels/hooks/index.ts';
import { hookSecretEnvName } from '../src/config.ts';
import { NormalizeError, VerificationError } from '../src/ports.ts';
import type { RawRequest } from '../src/ports.ts';
import type { Envelope } from '../src/types.ts';
import { outbound } from './support/outbound.ts';
import { timestampedSignatureContract } from './support/verify-contract.ts';

const SECRET = 'whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw';
const OTHER_SECRET = 'whsec_dGhpcyBpcyBub3QgdGhlIHJpZ2h0IHNlY3JldA==';
const NOW = new Date('2025-06-01T12:00:00Z');
const clock = () => NOW;

type SignOptions = { secret?: string; at?: Date; id?: string; source?: string; signedBody?: string };

/** A request signed by the standardwebhooks library itself, as a real sender would. */
function signed(body: string, opts: SignOptions = {}): RawRequest {
  const id = opts.id ?? 'msg_2Kq1';
  const at = opts.at ?? NOW;
  const signature = new Webhook(opts.secret ?? SECRET).sign(id, at, opts.signedBody ?? body);
  return {
    body: new TextEncoder().encode(body),
    headers: new Headers({
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(at.getTime() / 1000)),
      'webhook-signature': signature,
    }),
    url: `http://localhost/hooks/${opts.source ?? 'ci'}`,
    params: { source: opts.source ?? 'ci' },
  };
}

function verificationCode(req: RawRequest, secret = SECRET): string | undefined {
  try {
    verifyHook(req, secret, clock);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(VerificationError);
    return (error as VerificationError).code;
  }
}

function normalizeCode(req: RawRequest): string | undefined {
  try {
    normalizeHook(req, 'ci', clock);
    return undefined;
  } catch (error) {
    expect(error).toBeInstanceOf(NormalizeError);
    return (error as NormalizeError).code;
  }
}

/** The single envelope a request carries; fails the test if there is not exactly one. */
function only(envelopes: Envelope[]): Envelope {
  expect(envelopes).toHaveLength(1);
  return envelopes[0] as Envelope;
}

const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000);

timestampedSignatureContract({
  name: 'Standard Webhooks (hooks)',
  request: (when, how) =>
    signed('{"amount":100}', { at: when, ...(how === 'other-secret' ? { secret: OTHER_SECRET } : how === 'tampered' ? { signedBody: '{"amount":1}' } : {}) }),
  verify: (req, now) => verifyHook(req, SECRET, () => now),
  timestampHeader: 'webhook-timestamp',
  headers: ['webhook-id', 'webhook-timestamp', 'webhook-signature'],
});

describe('hooks: verifying Standard Webhooks signatures', () => {
  it('rejects a request whose webhook-id was changed after signing', () => {
    const req = signed('{}');
    req.headers.set('webhook-id', 'msg_other');
    expect(verificationCode(req)).toBe('bad_signature');
  });

  it.each(['webhook-id', 'webhook-timestamp', 'webhook-signature'])('names a missing %s', (header) => {
    const req = signed('{}');
    req.headers.delete(header);
    expect(() => verifyHook(req, SECRET, clock)).toThrow(header);
  });

  it('accepts a multi-signature header when one v1 signature matches', () => {
    const req = signed('{"ok":true}');
    const good = req.headers.get('webhook-signature');
    req.headers.set('webhook-signature', `v1,bm90IGl0 ${good} v1a,ignored`);
    expect(verificationCode(req)).toBeUndefined();
  });

  it('rejects a multi-signature header when no v1 signature matches', () => {
    const req = signed('{}');
    const good = req.headers.get('webhook-signature')?.slice(3);
    req.headers.set('webhook-signature', `v1,bm90IGl0 v2,${good}`);
    expect(verificationCode(req)).toBe('bad_signature');
  });

  it('verifies the exact bytes, including a leading byte-order mark', () => {
    expect(verificationCode(signed('\uFEFF{"emoji":"🚀"}'))).toBeUndefined();
    expect(verificationCode(signed('\uFEFF{}', { signedBody: '{}' }))).toBe('bad_signature');
  });

  it('rejects a body that is not UTF-8', () => {
    const req = signed('{}');
    req.body = new Uint8Array([0x7b, 0xff, 0x7d]);
    expect(verificationCode(req)).toBe('bad_signature');
  });

  it('fails closed when no secret is configured', () => {
    expect(() => verifyHook(signed('{}'), undefined, clock)).toThrow(VerificationError);
  });

  it('tells the operator what is wrong and what to do, naming only the missing headers', () => {
    const message = (req: RawRequest, secret: string | null = SECRET) => {
      try {
        verifyHook(req, secret ?? undefined, clock);
      } catch (error) {
        return (error as VerificationError).message;
      }
      return 'accepted';
    };
    expect(message(signed('{}'), null)).toMatch(/no signing secret is configured/);
    expect(() => verifyHook(signed('{}'), undefined, clock)).toThrow(expect.objectContaining({ code: 'not_configured' }));
    const missing = signed('{}');
    missing.headers.delete('webhook-timestamp');
    expect(verificationCode(missing)).toBe('missing_signature');
    expect(message(missing)).toMatch(/^missing Standard Webhooks header\(s\): webhook-timestamp; sign the request with the source's whsec_ secret$/);
    missing.headers.delete('webhook-id');
    expect(message(missing)).toMatch(/^missing Standard Webhooks header\(s\): webhook-id, webhook-timestamp;/);
    const letters = signed('{}');
    letters.headers.set('webhook-timestamp', `x${letters.headers.get('webhook-timestamp')}`);
    expect(message(letters)).toMatch(/whole seconds since the Unix epoch/);
    expect(message(signed('{}', { at: at(-301) }))).toMatch(/^webhook-timestamp is 301 s old \(allowed ±300 s\); check the sender's clock/);
    expect(message(signed('{}', { at: at(301) }))).toMatch(/^webhook-timestamp is 301 s in the future/);
    const binary = signed('{}');
    binary.body = new Uint8Array([0xff]);
    expect(message(binary)).toMatch(/not valid UTF-8/);
    expect(message(signed('{}', { secret: OTHER_SECRET }))).toMatch(/no webhook-signature matches the body; check .* whsec_ secret/);
  });

  it('uses the machine clock when none is injected', () => {
    const req = signed('{"now":true}', { at: new Date() });
    expect(() => verifyHook(req, SECRET)).not.toThrow();
  });
});

describe('hooks: normalizing events', () => {
  it('rejects a body that is not JSON', () => {
    expect(normalizeCode(signed('not json'))).toBe('malformed_json');
  });

  it.each(['[1,2]', '"text"', '42', 'null'])('rejects non-object JSON %s', (body) => {
    expect(normalizeCode(signed(body))).toBe('malformed_json');
  });

  it('rejects JSON errors with status 400', () => {
    expect(() => normalizeHook(signed('{'), 'ci', clock)).toThrow(expect.objectContaining({ status: 400 }));
  });

  it('takes text, user, conversation, agent and event from the payload', () => {
    const body = { type: 'alert.fired', agent: 'summarize', text: 'disk full on db-1', user_id: 'pagerduty', conversation_id: 'incident-7' };
    const envelope = only(normalizeHook(signed(JSON.stringify(body), { id: 'msg_42' }), 'ci', clock));
    expect(envelope).toEqual({
      channel: 'hooks',
      deliveryId: 'ci:msg_42',
      tenantId: 'hook:ci',
      conversationKey: 'hook:ci:incident-7',
      userId: 'pagerduty',
      text: 'disk full on db-1',
      threadRef: { source: 'ci', event: 'alert.fired' },
      event: { source: 'ci', type: 'alert.fired' },
      receivedAt: NOW.toISOString(),
      raw: body,
      agent: 'summarize',
    });
  });

  it('keeps the same webhook-id from two sources apart, and their conversations too', () => {
    const body = JSON.stringify({ text: 'hi', conversation_id: 'deploys' });
    const ci = only(normalizeHook(signed(body, { id: 'msg_1' }), 'ci', clock));
    const cd = only(normalizeHook(signed(body, { id: 'msg_1' }), 'cd', clock));
    expect(ci.deliveryId).not.toBe(cd.deliveryId);
    expect(ci.conversationKey).not.toBe(cd.conversationKey);
  });

  it('falls back to message, sender and event', () => {
    const envelope = only(normalizeHook(signed('{"event":"push","message":"hello","sender":"bot-7"}'), 'ci', clock));
    expect(envelope).toMatchObject({ text: 'hello', userId: 'bot-7', threadRef: { source: 'ci', event: 'push' } });
  });

  it('defaults user and conversation to the source, and the agent to ask whatever the text says', () => {
    const envelope = only(normalizeHook(signed('{"text":"status","user_id":42,"agent":7}'), 'ci', clock));
    expect(envelope.userId).toBe('hook:ci');
    expect(envelope.conversationKey).toBe('hook:ci');
    expect(envelope.agent).toBe('ask');
    expect(envelope.threadRef).toEqual({ source: 'ci' });
  });

  it('renders an event without text as readable lines', () => {
    const body = { type: 'deploy.finished', status: 'success', service: { name: 'api', region: 'eu' }, tags: ['a', 'b'], note: 'two\nlines' };
    const envelope = only(normalizeHook(signed(JSON.stringify(body)), 'ci', clock));
    expect(envelope.text).toBe(
      ['deploy.finished event from ci', 'status: success', 'service.name: api', 'service.region: eu', 'tags[0]: a', 'tags[1]: b', 'note: two lines'].join('\n'),
    );
  });

  it('renders empty containers, nulls, numbers, deep values as JSON, and cuts a long value at 200 characters', () => {
    const body = {
      type: 'x',
      empty: {},
      list: [],
      gone: null,
      count: 42,
      note: 'a \n\n b',
      a: { b: { c: { d: { e: { f: { g: 1 } } } } } },
      fit: 'y'.repeat(200),
      long: 'z'.repeat(201),
    };
    const envelope = only(normalizeHook(signed(JSON.stringify(body)), 'ci', clock));
    expect(envelope.text.split('\n')).toEqual([
      'x event from ci',
      'empty: {}',
      'list: []',
      'gone: null',
      'count: 42',
      'note: a b',
      'a.b.c.d.e.f: {"g":1}',
      `fit: ${'y'.repeat(200)}`,
      `long: ${'z'.repeat(200)}…`,
    ]);
  });

  it('renders 60 fields, and says when there were more', () => {
    const fields = (n: number) => JSON.stringify(Object.fromEntries(Array.from({ length: n }, (_, i) => [`k${i}`, i])));
    expect(only(normalizeHook(signed(fields(60)), 'ci', clock)).text.split('\n')).toHaveLength(61);
    const more = only(normalizeHook(signed(fields(61)), 'ci', clock)).text.split('\n');
    expect(more).toHaveLength(62);
    expect(more.at(-2)).toBe('k59: 59');
    expect(more.at(-1)).toBe('… more fields omitted');
  });

  it('skips blank fields, reads `user`, and without a type has an event of the source alone', () => {
    const envelope = only(normalizeHook(signed('{"text":"  ","message":"real","user":"alice","type":" "}'), 'ci', clock));
    expect(envelope).toMatchObject({ text: 'real', userId: 'alice', threadRef: { source: 'ci' } });
    expect(envelope.event).toStrictEqual({ source: 'ci' });
  });

  it('says what is wrong with a body or a missing webhook-id, and uses the machine clock when none is injected', () => {
    const error = (req: RawRequest) => {
      try {
        normalizeHook(req, 'ci', clock);
      } catch (e) {
        return { code: (e as NormalizeError).code, message: (e as Error).message };
      }
      return undefined;
    };
    expect(error(signed('{'))).toEqual({ code: 'malformed_json', message: 'hook body must be valid JSON' });
    expect(error(signed('[]'))?.message).toMatch(/JSON object at the top level/);
    const noId = signed('{"text":"hi"}');
    noId.headers.delete('webhook-id');
    expect(error(noId)).toEqual({ code: 'missing_delivery_id', message: expect.stringMatching(/webhook-id header is required/) });
    const before = Date.now();
    const envelope = only(normalizeHook(signed('{"text":"hi"}'), 'ci'));
    expect(Date.parse(envelope.receivedAt)).toBeGreaterThanOrEqual(before - 1000);
  });

  it('keeps a rendered event bounded', () => {
    const body = Object.fromEntries(Array.from({ length: 500 }, (_, i) => [`k${i}`, 'x'.repeat(1000)]));
    const envelope = only(normalizeHook(signed(JSON.stringify(body)), 'ci', clock));
    expect(envelope.text.length).toBeLessThan(20_000);
    expect(envelope.text).toMatch(/more fields omitted$/);
    expect(envelope.text.split('\n')[0]).toBe('event from ci');
  });
});

describe('hooks: sources and the adapter', () => {
  it('maps a source to its env variable', () => {
    expect(hookSecretEnvName('my-source')).toBe('HOOK_SECRET_MY_SOURCE');
    expect(hookSecretEnvName('GitHub_CI')).toBe('HOOK_SECRET_GITHUB_CI');
  });

  it.each(['', '-leading', '_leading', 'has space', 'dot.ted', 'slash/ed', 'ü', 'a'.repeat(65)])('rejects the source name %j', (name) => {
    expect(isValidHookSource(name)).toBe(false);
  });

  it.each(['a', 'ci', 'my-source', 'My_Source2', 'a'.repeat(64)])('accepts the source name %j', (name) => {
    expect(isValidHookSource(name)).toBe(true);
  });

  const secrets: Record<string, string> = { ci: SECRET };
  const adapter = createHooksAdapter({ secretFor: (source) => secrets[source], now: clock });

  it('is enabled only for sources with a secret', () => {
    const enabledFor = (source: string) => adapter.enabledFor!({ source });
    expect(enabledFor('ci')).toEqual({ enabled: true, requiredEnv: ['HOOK_SECRET_CI'] });
    expect(enabledFor('billing')).toEqual({ enabled: false, requiredEnv: ['HOOK_SECRET_BILLING'] });
    expect(enabledFor('bad name')).toEqual({ enabled: false, requiredEnv: ['a source name of letters, digits, - and _'] });
  });

  it('verifies with the secret of the source in the route', () => {
    expect(() => adapter.verify(signed('{}', { source: 'ci' }))).not.toThrow();
    // Signed correctly, but for a source with no secret: must not pass.
    expect(() => adapter.verify(signed('{}', { source: 'billing' }))).toThrow(VerificationError);
  });

  it('rejects an invalid source name from the route', () => {
    expect(() => adapter.verify(signed('{}', { source: 'no/pe' }))).toThrow(expect.objectContaining({ code: 'unknown_source' }));
    expect(() => adapter.normalize(signed('{}', { source: 'no/pe' }))).toThrow(expect.objectContaining({ code: 'unknown_source' }));
  });

  it('normalizes with the source from the route, lower-cased', () => {
    const result = adapter.normalize(signed('{"text":"hi"}', { source: 'CI' }));
    expect(Array.isArray(result)).toBe(true);
    expect(only(result as Envelope[])).toMatchObject({ channel: 'hooks', tenantId: 'hook:ci', receivedAt: NOW.toISOString() });
  });

  it('sends nothing back: the reply is read from the execution, and routing rules take it elsewhere', async () => {
    const envelope = only(normalizeHook(signed('{"text":"hi"}'), 'ci', clock));
    expect(adapter.send).toBeUndefined();
    await expect(outbound(adapter).reply(envelope, { text: 'ok' }, { executionId: 'e1' })).resolves.toBeUndefined();
  });
});
