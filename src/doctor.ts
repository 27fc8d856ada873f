/** `switchboard doctor`: checks what can be checked from here and says what to fix. */
import type { Config } from './config.ts';
import { openStore } from '../db/index.ts';
import { deprecationAdvice, deprecationOf, providerChain } from './llm/index.ts';

export async function runDoctor(config: Config): Promise<number> {
  let problems = 0;
  const ok = (msg: string) => console.log(`ok    ${msg}`);
  const bad = (msg: string) => {
    problems++;
    console.log(`FIX   ${msg}`);
  };
  const info = (msg: string) => console.log(`info  ${msg}`);
  // Works today, but not for long: said plainly, without failing the check.
  const warn = (msg: string) => console.log(`WARN  ${msg}`);

  ok('configuration is valid');
  try {
    const opened = await openStore({
      databaseUrl: config.databaseUrl,
      dataDir: config.dataDir,
      poolSize: 2,
      queue: { maxAttempts: 1, retryDelaySeconds: 1, jobTimeoutSeconds: 60, supervise: false, onError: () => {} },
    });
    const ready = await opened.store.ready();
    if (ready.database && ready.migrations) ok(`database (${opened.store.kind}) answers and migrations are applied`);
    else bad(`database (${opened.store.kind}): ${ready.error ?? 'migrations are not applied; run switchboard migrate'}`);
    info(`queue depth: ${await opened.store.queueDepth()}`);
    await opened.close();
  } catch (err) {
    bad(`database: ${(err as Error).message}`);
  }

  const channels = { slack: config.slack, telegram: config.telegram, whatsapp: config.whatsapp, github: config.github };
  for (const [name, c] of Object.entries(channels)) {
    if (c.enabled) info(`${name}: configured (no live check in this version)`);
    else info(`${name}: disabled; set ${c.requiredEnv.join(', ')} to enable it`);
  }
  const hooks = Object.keys(config.hookSecrets);
  info(hooks.length ? `hooks: ${hooks.map((k) => `/hooks/${k.slice(12).toLowerCase()}`).join(', ')}` : 'hooks: none; set HOOK_SECRET_<SOURCE> to accept signed webhooks at /hooks/<source>');
  const chain = providerChain(config.llm);
  info(`LLM providers: ${chain.join(' → ')}`);
  for (const provider of chain) {
    const deprecated = provider === 'offline' ? undefined : deprecationOf(provider, config.llm[provider].model);
    if (deprecated) warn(deprecationAdvice(deprecated));
  }
  if (!config.publicUrl) info('PUBLIC_URL is not set: platforms that call back (Twilio signatures, manifests) need it');
  console.log(problems ? `\n${problems} problem(s) to fix` : '\nall checks passed');
  return problems ? 1 : 0;
}
