/**
 * What the provider chain costs per call: the same request to a fake Anthropic API through the SDK
 * directly, and through the chain (cockatiel breaker + retry + timeout, prompt hash, pricing, trace,
 * and for streams the per-delta bookkeeping). Calls alternate between the two so drift hits both alike.
 *
 * Env: BENCH_LLM_CALLS (default 2000 per variant), after 100 warm-up calls each.
 */
import { Anthropic } from '@anthropic-ai/sdk';
import { createChain, createOfflineProvider } from '../../src/llm/index.ts';
import { createAnthropicProvider } from '../../src/llm/providers/anthropic.ts';
import type { LlmRequest } from '../../src/ports.ts';
import { startFakeAnthropic } from '../../test/fakes/anthropic-api.ts';
import { summarize } from './lib/stats.ts';

const CALLS = Number(process.env.BENCH_LLM_CALLS ?? 2000);
const WARMUP = 100;
const MODEL = 'claude-bench-1';

const request: LlmRequest = {
  agent: 'ask',
  system: 'You are Switchboard, a concise assistant inside a team chat.',
  messages: [{ role: 'user', content: `<untrusted source="question">\nhow do we deploy billing? ${'context '.repeat(200)}\n</untrusted>` }],
  maxTokens: 512,
};

async function time(fn: () => Promise<unknown>): Promise<number> {
  const started = performance.now();
  await fn();
  return performance.now() - started;
}

export async function run() {
  const fake = await startFakeAnthropic();
  try {
    const client = new Anthropic({ apiKey: 'k', authToken: null, baseURL: fake.url, maxRetries: 0 });
    const params = { model: MODEL, max_tokens: 512, system: request.system, messages: request.messages };
    const logger = { debug() {}, info() {}, warn() {}, error() {} };
    const chain = createChain([createAnthropicProvider({ apiKey: 'k', baseUrl: fake.url, model: MODEL, timeoutMs: 30_000 }), createOfflineProvider()], {
      logger,
      deadlineMs: 90_000,
    });

    const variants = {
      'SDK complete': () => client.messages.create(params),
      'chain complete': () => chain.complete(request),
      'SDK stream': async () => {
        let text = '';
        for await (const e of await client.messages.create({ ...params, stream: true })) {
          if (e.type === 'content_block_delta' && e.delta.type === 'text_delta') text += e.delta.text;
        }
        return text;
      },
      'chain stream': () => chain.stream!(request, () => {}),
    };
    const samples: Record<string, number[]> = Object.fromEntries(Object.keys(variants).map((k) => [k, []]));
    for (let i = 0; i < WARMUP + CALLS; i++) {
      for (const [name, fn] of Object.entries(variants)) {
        const ms = await time(fn);
        if (i >= WARMUP) samples[name]!.push(ms);
      }
    }
    const stats = Object.fromEntries(Object.entries(samples).map(([k, v]) => [k, summarize(v)]));
    const overhead = (kind: 'complete' | 'stream') => {
      const sdk = stats[`SDK ${kind}`]!;
      const viaChain = stats[`chain ${kind}`]!;
      return { p50Ms: round(viaChain.p50 - sdk.p50), p99Ms: round(viaChain.p99 - sdk.p99), ratioP50: round(viaChain.p50 / sdk.p50) };
    };
    const data = { calls: CALLS, stats, overhead: { complete: overhead('complete'), stream: overhead('stream') }, fakeRequests: fake.requests.length };
    return {
      data,
      rows: [
        ...Object.entries(stats).map(([name, s]) => ({ metric: `${name} (n=${s.n})`, value: `p50 ${s.p50} ms, p99 ${s.p99} ms` })),
        {
          metric: 'chain overhead, complete',
          value: `p50 ${signed(data.overhead.complete.p50Ms)} ms (×${data.overhead.complete.ratioP50}), p99 ${signed(data.overhead.complete.p99Ms)} ms`,
        },
        {
          metric: 'chain overhead, stream',
          value: `p50 ${signed(data.overhead.stream.p50Ms)} ms (×${data.overhead.stream.ratioP50}), p99 ${signed(data.overhead.stream.p99Ms)} ms`,
        },
      ],
    };
  } finally {
    await fake.close();
  }
}

function round(n: number): number {
  return Math.round(n * 1000) / 1000;
}

function signed(n: number): string {
  return n >= 0 ? `+${n}` : String(n);
}
