/**
 * The console in a real browser (headless Chromium through playwright-core), against a listening Switchboard whose
 * `ask` agent streams from the fake Anthropic API. Screenshots go to test-results/console/.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { sql } from 'drizzle-orm';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFakeAnthropic, type FakeLlm } from './fakes/anthropic-api.ts';
import { ARTIFACTS, findChromium, launchBrowser } from './support/browser.ts';
import { databaseKinds } from './support/databases.ts';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

const PRICES = JSON.stringify({ 'claude-test': { input: 3, output: 15 } });
const chromium = findChromium();
if ('skip' in chromium) console.warn(chromium.skip);

describe.skipIf('skip' in chromium).each(databaseKinds)('the console in Chromium on %s', (kind) => {
  let anthropic: FakeLlm;
  let sb: TestSwitchboard;
  let browser: Awaited<ReturnType<typeof launchBrowser>>;
  let page: Page;
  let base: string;
  const errors: string[] = [];
  const shot = (name: string) => page.screenshot({ path: join(ARTIFACTS, `${kind}-${name}.png`), fullPage: true });
  const heading = () => page.locator('main h1').textContent();

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    anthropic = await startFakeAnthropic();
    sb = await startTestSwitchboard(
      kind,
      {
        PORT: '0',
        HOST: '127.0.0.1',
        ANTHROPIC_API_KEY: 'k',
        ANTHROPIC_BASE_URL: anthropic.url,
        ANTHROPIC_MODEL: 'claude-test-1',
        LLM_PRICES: PRICES,
        RATE_LIMIT_BURST: '1000',
      },
      { listen: true },
    );
    base = sb.url!;
    browser = await launchBrowser((chromium as { path: string }).path);
    page = await browser.context.newPage();
    page.setDefaultTimeout(15_000);
    // Script errors and Content-Security-Policy refusals; a 401 answer to a wrong token is logged too, and expected.
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (m) => m.type() === 'error' && !m.text().startsWith('Failed to load resource') && errors.push(m.text()));
  }, 120_000);
  afterAll(async () => {
    await browser?.close();
    await sb?.close();
    await anthropic?.close();
  });

  async function signIn(token = ADMIN_TOKEN) {
    await page.getByLabel('Admin token').fill(token);
    await page.getByRole('button', { name: 'Sign in' }).click();
  }

  it('signs in with the token (kept out of URLs and storage) and out with one click', async () => {
    await page.goto(`${base}/`);
    await shot('sign-in');
    await signIn('not-the-admin-token');
    await page.getByRole('alert').filter({ hasText: 'not the admin token' }).waitFor();

    await signIn();
    await page.getByRole('navigation', { name: 'Console' }).waitFor();
    expect(await heading()).toBe('Overview');
    expect(page.url()).toBe(`${base}/`);
    const [cookie] = await browser.context.cookies();
    expect(cookie).toMatchObject({ name: 'sb_session', httpOnly: true, sameSite: 'Strict' });
    const storage = await page.evaluate(() => JSON.stringify({ ...localStorage }) + JSON.stringify({ ...sessionStorage }) + document.documentElement.outerHTML);
    expect(storage).not.toContain(ADMIN_TOKEN);

    await page.getByRole('button', { name: 'Sign out' }).click();
    await page.getByLabel('Admin token').waitFor();
    expect(await browser.context.cookies()).toEqual([]);
    await signIn();
    await page.getByRole('navigation', { name: 'Console' }).waitFor();
  });

  it('sends a chat message in the playground and shows the reply while it streams', async () => {
    await page.getByRole('link', { name: 'Playground' }).click();
    // Loaded, so the page script is listening: Enter pressed before that would submit the bare form instead.
    await page.waitForURL(/\/console\/playground$/);
    const release = anthropic.hold(); // the fake sends its first piece, then waits
    await page.getByLabel('Message').fill('how do we deploy billing?');
    await page.getByLabel('Message').press('Enter');
    const reply = page.locator('#log .bot').last();
    // The first piece is on screen before the rest of the answer exists.
    await expect.poll(() => reply.textContent()).toBe('This ');
    release();
    await expect.poll(() => reply.textContent()).toContain(`This is the fake anthropic answer, streamed in several small pieces.`);
    await shot('playground');
  });

  it('rates a reply with 👍', async () => {
    await page.getByRole('button', { name: 'Thumbs up this reply' }).click();
    await page.getByText('Thanks: rated 👍').waitFor();
    expect(await page.getByRole('button', { name: 'Thumbs up this reply' }).getAttribute('aria-pressed')).toBe('true');
    const summary = await sb.api('GET', '/api/feedback/summary');
    expect(summary.body.by_agent).toEqual([expect.objectContaining({ agent: 'ask', up: 1 })]);
  });

  it('toggles an agent off and on again from the Agents page', async () => {
    await page.getByRole('link', { name: 'Agents' }).click();
    const toggle = page.getByRole('switch', { name: 'Enable summarize' });
    await expect.poll(() => toggle.isChecked()).toBe(true);
    await toggle.click();
    await expect.poll(async () => (await sb.api('GET', '/api/agents')).body.agents.find((a: any) => a.name === 'summarize').enabled).toBe(false);
    await page.reload();
    await expect.poll(() => page.getByRole('switch', { name: 'Enable summarize' }).isChecked()).toBe(false);
    await shot('agents');
    // Keyboard: the switch takes focus and Space flips it back.
    await page.getByRole('switch', { name: 'Enable summarize' }).focus();
    await page.keyboard.press('Space');
    await expect.poll(async () => (await sb.api('GET', '/api/agents')).body.agents.find((a: any) => a.name === 'summarize').enabled).toBe(true);
  });

  it('pages through executions with the filters kept', async () => {
    for (let i = 0; i < 30; i++) expect((await sb.api('POST', '/api/messages', { text: `help page-${i}`, user_id: `pager-${i}` })).status).toBe(202);
    await page.goto(`${base}/console/executions?q=page-`);
    const rows = page.locator('#executions tr');
    await expect.poll(() => rows.count()).toBe(25);
    expect(await page.locator('#page-info').textContent()).toBe('Page 1');
    await page.getByRole('button', { name: 'Older' }).click();
    await expect.poll(() => page.locator('#page-info').textContent()).toBe('Page 2');
    await expect.poll(() => rows.count()).toBe(5);
    expect(await page.getByRole('button', { name: 'Older' }).isDisabled()).toBe(true);
    await page.getByRole('button', { name: 'Newest' }).click();
    await expect.poll(() => rows.count()).toBe(25);
    expect(await page.getByLabel('Search').inputValue()).toBe('page-');
    await shot('executions');
  });

  it('opens an execution and replays it', async () => {
    await page.goto(`${base}/console/executions?q=deploy%20billing`);
    await page.locator('#executions tr a').first().click();
    const detail = page.locator('#execution');
    await expect.poll(() => detail.textContent()).toContain('how do we deploy billing?');
    const text = (await detail.textContent())!;
    for (const field of ['Provider', 'anthropic', 'Model', 'claude-test-1', 'Tokens', 'Cost', 'Latency', 'Attempts', 'Conversation'])
      expect(text).toContain(field);
    const original = page.url().split('/').pop()!;
    await shot('execution');

    await page.getByRole('button', { name: 'Replay' }).click();
    await page.waitForURL((url) => url.pathname.startsWith('/console/executions/') && !url.pathname.endsWith(original));
    await expect.poll(() => detail.textContent()).toContain(`Replay of${original}`);
    const copy = page.url().split('/').pop()!;
    await expect.poll(async () => (await sb.api('GET', `/api/executions/${copy}`)).body.replay_of).toBe(original);
  });

  it('opens a conversation with its messages', async () => {
    await page.getByRole('link', { name: 'Conversations' }).click();
    await page.getByLabel('Search').fill('deploy billing');
    await page.getByRole('button', { name: 'Filter' }).click();
    await expect.poll(() => page.locator('#conversations tr a').count()).toBe(1);
    await page.locator('#conversations tr a').first().click();
    const messages = page.locator('#messages li');
    await expect.poll(() => messages.count()).toBeGreaterThanOrEqual(2);
    expect(await messages.first().textContent()).toContain('how do we deploy billing?');
    expect(await messages.nth(1).textContent()).toContain('This is the fake anthropic answer');
    expect(await messages.nth(1).textContent()).toContain('feedback: 👍 1 👎 0');
    await shot('conversation');
  });

  it('shows the overview with channels, numbers and charts, and the access page', async () => {
    // The paging test's executions, spread over the past day and two weeks with some failures and costs, give the charts a history to draw.
    const { body } = await sb.api('GET', '/api/executions?q=page-&limit=100');
    for (const [i, e] of (body.executions as { id: string }[]).entries()) {
      const ago = i < 24 ? `${i * 55} minutes` : `${i - 21} days`;
      await sb.opened.handle.db.execute(sql`
        update executions set created_at = now() - ${ago}::interval,
          status = case when ${i % 7 === 3} then 'dead' else status end,
          provider = case when ${i % 2 === 0} then 'anthropic' else provider end,
          cost_usd = case when ${i % 2 === 0} then ${(0.004 * ((i % 5) + 1)).toFixed(6)}::numeric else cost_usd end
        where id = ${e.id}`);
    }
    await page.getByRole('link', { name: 'Overview' }).click();
    await expect.poll(() => page.locator('#channels tr').count()).toBeGreaterThanOrEqual(6);
    expect(await page.locator('#channels').textContent()).toContain('SLACK_SIGNING_SECRET');
    await expect.poll(() => page.locator('#chart-activity svg rect').count()).toBeGreaterThan(0);
    expect(Number(await page.locator('#queue-depth').textContent())).toBeGreaterThanOrEqual(0);
    expect(await page.locator('#feedback').textContent()).toContain('ask');
    await shot('overview');

    await page.getByRole('link', { name: 'Access' }).click();
    await page.locator('#audit').waitFor();
    await expect.poll(() => page.locator('#env-access tr').count()).toBeGreaterThan(0);
    await shot('access');
  });

  it('ran every page without a script error or a Content-Security-Policy refusal', () => {
    expect(errors).toEqual([]);
  });
});
