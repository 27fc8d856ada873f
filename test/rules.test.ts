/**
 * Routing rules in the store (db/rules.ts): which rules an event of a source matches (its event pattern, the
 * source's older spellings), in which order, and that a change reaches the rules kept in memory. The real store on
 * one embedded database; fast on purpose: `npm run mutate` runs these once per mutant.
 */
import { sql } from 'drizzle-orm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { eventMatches } from '../db/index.ts';
import { createRuleCache } from '../db/rules.ts';
import { openEmbeddedStore } from './support/databases.ts';

let opened: Awaited<ReturnType<typeof openEmbeddedStore>>;

beforeAll(async () => {
  opened = await openEmbeddedStore('rules');
}, 120_000);

afterAll(async () => {
  await opened?.remove();
});

const to = (target: string) => ({ channel: 'slack', target });

describe('an event pattern', () => {
  it('matches every event with none or with *, an exact type, and a prefix ending in *', () => {
    expect(eventMatches(null, undefined)).toBe(true);
    expect(eventMatches(null, 'build.failed')).toBe(true);
    expect(eventMatches('*', undefined)).toBe(true);
    expect(eventMatches('*', 'anything')).toBe(true);
    expect(eventMatches('build.failed', 'build.failed')).toBe(true);
    expect(eventMatches('build.failed', 'build.passed')).toBe(false);
    expect(eventMatches('build.failed', 'build.failed.twice')).toBe(false);
    expect(eventMatches('build.failed', undefined)).toBe(false);
    expect(eventMatches('build.*', 'build.passed')).toBe(true);
    expect(eventMatches('build.*', 'build.')).toBe(true);
    expect(eventMatches('build.*', 'build')).toBe(false);
    expect(eventMatches('build.*', 'deploy.build.x')).toBe(false);
    expect(eventMatches('build.*', undefined)).toBe(false);
    // Only a trailing * is a wildcard.
    expect(eventMatches('*.failed', 'build.failed')).toBe(false);
    expect(eventMatches('*.failed', '*.failed')).toBe(true);
  });
});

describe('routing rules in the store', () => {
  let deploy: string;
  let any: string;
  beforeAll(async () => {
    deploy = (await opened.store.createRule({ source: 'ci', event: 'deploy.*', agent: 'summarize', destination: to('C1') })).id;
    any = (await opened.store.createRule({ source: 'ci', agent: 'ask', destination: to('C2') })).id;
    await opened.store.createRule({ source: 'other', event: null, agent: 'ask', destination: to('C3') });
  });

  it('stores a rule without an event as matching every event, and lists the newest first', async () => {
    const rules = await opened.store.listRules();
    expect(rules.map((r) => [r.source, r.event, r.agent, r.destination])).toEqual([
      ['other', null, 'ask', to('C3')],
      ['ci', null, 'ask', to('C2')],
      ['ci', 'deploy.*', 'summarize', to('C1')],
    ]);
    expect(rules[2]!.id).toBe(deploy);
    expect(rules[2]!.createdAt).toBeInstanceOf(Date);
  });

  it("matches a source's rules whose pattern takes the event, oldest first", async () => {
    expect((await opened.store.matchRules('ci', 'deploy.done')).map((r) => r.id)).toEqual([deploy, any]);
    expect((await opened.store.matchRules('ci', 'build.done')).map((r) => r.id)).toEqual([any]);
    expect((await opened.store.matchRules('ci', undefined)).map((r) => r.id)).toEqual([any]);
    expect(await opened.store.matchRules('cd', 'deploy.done')).toEqual([]);
  });

  it('matches rules stored under an older spelling of the source', async () => {
    await opened.handle.db.execute(
      sql`insert into routes (source, agent, destination) values ('My_Old_App', 'ask', '{"channel":"slack","target":"C4"}'::jsonb)`,
    );
    await opened.store.rulesChanged();
    expect((await opened.store.matchRules('my-old-app', 'x')).map((r) => r.destination)).toEqual([to('C4')]);
    expect(await opened.store.matchRules('my_old_app', 'x')).toEqual([]);
    expect(await opened.store.matchRules('My_Old_App', 'x')).toEqual([]);
  });

  it('matches a new rule at once and a deleted one no more, and says whether there was one to delete', async () => {
    const added = await opened.store.createRule({ source: 'fresh', agent: 'ask', destination: to('C5') });
    expect(added).toMatchObject({ source: 'fresh', event: null, agent: 'ask', destination: to('C5') });
    expect((await opened.store.matchRules('fresh', undefined)).map((r) => r.id)).toEqual([added.id]);
    expect(await opened.store.deleteRule(added.id)).toBe(true);
    expect(await opened.store.matchRules('fresh', undefined)).toEqual([]);
    expect(await opened.store.deleteRule(added.id)).toBe(false);
    expect((await opened.store.listRules()).map((r) => r.id)).not.toContain(added.id);
    const pushes = await opened.store.createRule({ source: 'fresh', event: 'push', agent: 'ask', destination: to('C6') });
    expect(pushes.event).toBe('push');
    expect((await opened.store.matchRules('fresh', 'push')).map((r) => r.id)).toEqual([pushes.id]);
    expect(await opened.store.matchRules('fresh', 'pull')).toEqual([]);
    await opened.store.deleteRule(pushes.id);
  });

  it('keeps the rules in memory until told they changed', async () => {
    const cache = createRuleCache(opened.handle);
    expect((await cache.match('ci', 'deploy.done')).map((r) => r.id)).toEqual([deploy, any]);
    await opened.handle.db.execute(sql`insert into routes (source, agent, destination) values ('late', 'ask', '{"channel":"slack","target":"C7"}'::jsonb)`);
    expect(await cache.match('late', undefined)).toEqual([]);
    await cache.changed();
    expect((await cache.match('late', undefined)).map((r) => r.destination)).toEqual([to('C7')]);
  });
});
