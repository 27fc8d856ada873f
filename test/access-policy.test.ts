/**
 * The access policy on its own, decision by decision, against the real access store on one embedded database per
 * file: deny rules over allows, admins, allow lists, each channel mode, pairings and the role an agent requires.
 * Fast on purpose: `npm run mutate` runs these once per mutant of src/access/policy.ts.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { accessStore, addRule } from '../db/access.ts';
import { seedAgents } from '../db/agents.ts';
import { openDatabase, type DatabaseHandle } from '../db/client.ts';
import { accessPairings, accessRules } from '../db/schema.ts';
import { quotaAnswer } from '../src/access/answers.ts';
import { createAccessPolicy, isRefusal, PAIRING_MAX_PENDING, PAIRING_TTL_SECONDS, QUOTA_WINDOW_SECONDS } from '../src/access/policy.ts';
import type { ChannelAccess } from '../src/config.ts';
import type { AccessFacts, Envelope } from '../src/types.ts';

const NOW = new Date('2026-03-01T10:00:00Z');
let dir: string;
let handle: DatabaseHandle;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'switchboard-policy-'));
  handle = await openDatabase({ dataDir: dir });
  await seedAgents(handle.db, ['ask', { name: 'deploy', requiredRole: 'admin' }]);
});

afterAll(async () => {
  await handle?.close();
  rmSync(dir, { recursive: true, force: true });
});

beforeEach(async () => {
  await handle.db.delete(accessRules);
  await handle.db.delete(accessPairings);
});

const envelope = (facts: AccessFacts | undefined, channel = 'slack', extra: Partial<Envelope> = {}): Envelope =>
  ({
    channel,
    deliveryId: 'd1',
    tenantId: 'T1',
    conversationKey: 'T1:C1:1',
    userId: facts?.person ?? 'nobody',
    text: 'hello',
    replyRef: {},
    receivedAt: NOW.toISOString(),
    ...(facts ? { facts } : {}),
    ...extra,
  }) as Envelope;

const access = (mode: string, allow: string[] = [], admins: string[] = []): ChannelAccess => ({ mode, allow, admins });

function policy(channels: Record<string, ChannelAccess>, quotaPerHour = 0) {
  return createAccessPolicy({ channels, quotaPerHour, store: accessStore(handle.db), now: () => NOW });
}

const rule = (kind: 'allow' | 'deny' | 'admin', subject: string, channel = 'slack') => addRule(handle.db, { channel, kind, subject, createdBy: 'test' });

const person = (id: string, places: string[] = ['T1', 'C1'], more: Partial<AccessFacts> = {}): AccessFacts => ({ person: id, places, ...more });

describe('the access policy', () => {
  it('admits a channel without access settings (web, signed hooks) as an admin, whoever it says wrote', async () => {
    const p = policy({ slack: access('allowlist') });
    expect(await p.check(envelope(undefined, 'web'), ['deploy'])).toEqual({ role: 'admin' });
  });

  it('refuses a channel that should say who wrote and did not, or said an empty name', async () => {
    const p = policy({ slack: access('open') });
    expect(await p.check(envelope(undefined), ['ask'])).toEqual({ refused: 'unidentified' });
    expect(await p.check(envelope(person('')), ['ask'])).toEqual({ refused: 'unidentified' });
  });

  it('lets a deny rule on the person or on a place win over every allow, but not over an admin of the environment', async () => {
    const p = policy({ slack: access('open', ['U1', 'U2'], ['U9']) });
    await rule('deny', 'u1');
    await rule('deny', 'C7');
    await rule('allow', 'U2');
    await rule('admin', 'U2');
    expect(await p.check(envelope(person('U1')), ['ask'])).toEqual({ refused: 'denied' });
    expect(await p.check(envelope(person('U2', ['T1', 'c7'])), ['ask'])).toEqual({ refused: 'denied' });
    expect(await p.check(envelope(person('U9', ['T1', 'C7'])), ['deploy'])).toEqual({ role: 'admin' });
    // A deny rule of another channel is not this channel's.
    await rule('deny', 'U3', 'telegram');
    expect(await p.check(envelope(person('U3')), ['ask'])).toEqual({ role: 'member' });
  });

  it('makes admins of the environment (any case) and of admin rules on the person, not on a place', async () => {
    const p = policy({ slack: access('allowlist', [], ['U9']) });
    expect(await p.check(envelope(person('u9')), ['deploy'])).toEqual({ role: 'admin' });
    await rule('admin', 'U8');
    expect(await p.check(envelope(person('U8')), ['deploy'])).toEqual({ role: 'admin' });
    await rule('admin', 'C1');
    expect(await p.check(envelope(person('U7')), ['ask'])).toMatchObject({ refused: 'not_allowed' });
  });

  it('admits as a member whoever the environment or an allow rule names, as a person or a place, in any case', async () => {
    const p = policy({ slack: access('allowlist', ['u1', 'C2']) });
    expect(await p.check(envelope(person('U1')), ['ask'])).toEqual({ role: 'member' });
    expect(await p.check(envelope(person('U5', ['T1', 'c2'])), ['ask'])).toEqual({ role: 'member' });
    await rule('allow', 'T3');
    expect(await p.check(envelope(person('U6', ['t3', 'C9'])), ['ask'])).toEqual({ role: 'member' });
    await rule('allow', 'U4');
    expect(await p.check(envelope(person('u4', ['T9'])), ['ask'])).toEqual({ role: 'member' });
    // An allow rule is not an admin rule, nor a deny rule.
    expect(await p.check(envelope(person('U4', ['T9'])), ['deploy'])).toMatchObject({ refused: 'role' });
  });

  it('refuses anyone else in allowlist mode, telling them which command an admin runs', async () => {
    const p = policy({ slack: access('allowlist', ['U1']) });
    const refused = await p.check(envelope(person('U5')), ['ask']);
    expect(refused).toEqual({ refused: 'not_allowed', answer: expect.stringContaining('npx switchboard access allow slack U5') });
    expect(isRefusal(refused)).toBe(true);
    expect(isRefusal({ role: 'member' })).toBe(false);
  });

  it('admits everyone as a member in open and anyone modes, and an admin-only agent still needs an admin', async () => {
    for (const mode of ['open', 'anyone']) {
      const p = policy({ slack: access(mode) });
      expect(await p.check(envelope(person('U5')), ['ask']), mode).toEqual({ role: 'member' });
      // A guest of another organisation too: these modes ask nothing of where people belong.
      expect(await p.check(envelope(person('U5', ['T1'], { external: true })), ['ask']), mode).toEqual({ role: 'member' });
      expect(await p.check(envelope(person('U5')), ['ask', 'deploy']), mode).toEqual({
        refused: 'role',
        answer: 'Only an admin can use `deploy` here.',
      });
    }
  });

  it('in workspace mode admits the installation’s people and refuses guests of another organisation', async () => {
    const p = policy({ slack: access('workspace') });
    expect(await p.check(envelope(person('U5')), ['ask'])).toEqual({ role: 'member' });
    expect(await p.check(envelope(person('U5', ['T1'], { external: true })), ['ask'])).toEqual({
      refused: 'external',
      answer: 'This app only answers people of the workspace that installed it.',
    });
  });

  it('in collaborators mode admits the repository’s people and automatic reviews, and refuses other commands', async () => {
    const p = policy({ github: access('collaborators') });
    const gh = (facts: AccessFacts) => envelope(facts, 'github');
    expect(await p.check(gh(person('octocat', ['o/r'], { member: true })), ['ask'])).toEqual({ role: 'member' });
    expect(await p.check(gh(person('octocat', ['o/r'], { automatic: true })), ['ask'])).toEqual({ role: 'member' });
    expect(await p.check(gh(person('octocat', ['o/r'])), ['ask'])).toEqual({ refused: 'not_member' });
  });

  it('in pairing mode opens one pairing per person, or per group chat, and answers with its code', async () => {
    const p = policy({ telegram: access('pairing') });
    const tg = (facts: AccessFacts) => envelope(facts, 'telegram', { userName: 'ann' });
    const first = await p.check(tg(person('42', ['42'])), ['ask']);
    expect(first).toMatchObject({ refused: 'pairing' });
    const code = /approve ([A-Z0-9-]+)/.exec((first as { answer: string }).answer)![1]!;
    expect((first as { answer: string }).answer).toContain('expires in 60 minutes');
    const [stored] = await handle.db.select().from(accessPairings);
    expect(stored).toMatchObject({ code, channel: 'telegram', subject: '42', scope: 'person', userName: 'ann' });
    expect(stored!.createdAt.getTime()).toBe(NOW.getTime());
    expect(stored!.expiresAt.getTime() - NOW.getTime()).toBe(PAIRING_TTL_SECONDS * 1000);
    // The same person again: still pending, no second code.
    expect(await p.check(tg(person('42', ['42'])), ['ask'])).toEqual({ refused: 'pairing_pending' });
    // A group chat pairs as a whole, whoever writes in it.
    expect(await p.check(tg(person('43', ['-100'], { groupChat: '-100' })), ['ask'])).toMatchObject({ refused: 'pairing' });
    expect(await p.check(tg(person('44', ['-100'], { groupChat: '-100' })), ['ask'])).toEqual({ refused: 'pairing_pending' });
    const chat = (await handle.db.select().from(accessPairings)).find((r) => r.subject === '-100');
    expect(chat).toMatchObject({ scope: 'chat' });
  });

  it('in pairing mode refuses without a code once the channel has as many pairings waiting as it keeps', async () => {
    const p = policy({ telegram: access('pairing') });
    const expiresAt = new Date(NOW.getTime() + 60_000);
    await handle.db.insert(accessPairings).values(
      Array.from({ length: PAIRING_MAX_PENDING - 1 }, (_, i) => ({
        code: `C${String(i).padStart(3, '0')}-XX`,
        channel: 'telegram',
        subject: `p${i}`,
        scope: 'person' as const,
        createdAt: NOW,
        expiresAt,
      })),
    );
    expect(await p.check(envelope(person('1', ['1']), 'telegram'), ['ask'])).toMatchObject({ refused: 'pairing' });
    expect(await p.check(envelope(person('2', ['2']), 'telegram'), ['ask'])).toEqual({ refused: 'pairing_full' });
  });

  it('refuses every mode it does not know, as allowlist does', async () => {
    const p = policy({ slack: access('nonsense') });
    expect(await p.check(envelope(person('U5')), ['ask'])).toMatchObject({ refused: 'not_allowed' });
  });

  it('lets an admin run an admin-only agent and a member run the others', async () => {
    const p = policy({ slack: access('allowlist', ['U1'], ['U9']) });
    expect(await p.check(envelope(person('U9')), ['deploy', 'ask'])).toEqual({ role: 'admin' });
    expect(await p.check(envelope(person('U1')), ['ask', 'unknown'])).toEqual({ role: 'member' });
    expect(await p.check(envelope(person('U1')), [])).toEqual({ role: 'member' });
  });

  it('counts a quota over the last hour for channels with access settings only, and none when it is 0', () => {
    const p = policy({ slack: access('open') }, 5);
    expect(p.quota(envelope(person('U1')))).toEqual({
      limit: 5,
      since: new Date(NOW.getTime() - QUOTA_WINDOW_SECONDS * 1000),
      windowSeconds: QUOTA_WINDOW_SECONDS,
    });
    expect(QUOTA_WINDOW_SECONDS).toBe(3600);
    expect(p.quota(envelope(undefined, 'web'))).toBeUndefined();
    expect(policy({ slack: access('open') }, 0).quota(envelope(person('U1')))).toBeUndefined();
  });
});

describe('what a person over their quota reads', () => {
  it('says the limit, when to ask again in UTC, and in how many minutes, rounded up and at least one', () => {
    const at = (iso: string) => new Date(`2026-03-01T${iso}Z`);
    expect(quotaAnswer(20, at('10:02:00'), at('10:00:30'))).toBe(
      'Sorry, you have reached your limit of 20 requests per hour; you can ask again at 10:02 UTC (in 2 minutes).',
    );
    expect(quotaAnswer(5, at('11:00:00'), at('10:59:59'))).toBe(
      'Sorry, you have reached your limit of 5 requests per hour; you can ask again at 11:00 UTC (in 1 minute).',
    );
    // A reset already past (a clock a little behind the database's) still says one minute.
    expect(quotaAnswer(5, at('10:00:00'), at('10:03:00'))).toMatch(/at 10:00 UTC \(in 1 minute\)\.$/);
  });
});
