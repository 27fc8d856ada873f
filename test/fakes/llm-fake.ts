/**
 * The scaffolding both fake model APIs share: an HTTP server on 127.0.0.1 that records every request and
 * answers from a script of behaviours (answer, error status, hang, error mid-stream, cut connection).
 * Each fake supplies its own wire format; the real SDKs talk to it through their base URL option.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Behaviour =
  | { kind: 'answer'; text?: string }
  | { kind: 'status'; status: number; type?: string; message?: string; headers?: Record<string, string> }
  | { kind: 'hang' }
  /** A 200 stream that sends `afterChunks` text chunks, then an error event (Anthropic `overloaded_error` …). */
  | { kind: 'stream-error'; afterChunks: number; type: string; message?: string }
  /** A 200 response whose connection is destroyed after `afterChunks` chunks (or at once for JSON). */
  | { kind: 'cut'; afterChunks: number };

export type Recorded = { path: string; headers: IncomingMessage['headers']; body: any; at: number };
export type Answered = { text: string; inputTokens: number; outputTokens: number; model: string; streamed: boolean };

/** What a wire format must provide. */
export type WireFormat = {
  path: string;
  authorized(headers: IncomingMessage['headers'], key: string): boolean;
  isStream(body: any): boolean;
  /** The JSON body of a whole answer. */
  json(body: any, answer: Answered): unknown;
  /** SSE frames around and between the chunks. */
  streamStart(body: any, answer: Answered): string[];
  streamChunk(body: any, answer: Answered, chunk: string): string;
  streamEnd(body: any, answer: Answered): string[];
  streamError(type: string, message: string): string;
  errorBody(status: number, type: string | undefined, message: string): unknown;
  /** The body of GET <base>/v1/models (what doctor's models.list reads). */
  models(): unknown;
};

export type FakeLlm = {
  url: string;
  requests: Recorded[];
  answers: Answered[];
  /** Behaviours for the next requests, in order; then every request gets `fallback`. */
  script(...behaviours: Behaviour[]): void;
  fallback: Behaviour;
  /** The answer text for a request (default: a fixed sentence naming the fake). */
  answer: (body: any) => string;
  /** Pause between streamed chunks. */
  chunkDelayMs: number;
  /** Streams stop after their first chunk until the returned function is called. */
  hold(): () => void;
  reset(): void;
  close(): Promise<void>;
};

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** ~4 characters a token, like the real tokenizers roughly do for English. */
export const fakeTokens = (text: string) => Math.max(1, Math.ceil(text.length / 4));

export async function startFakeLlm(name: string, wire: WireFormat, opts: { key?: string; basePath?: string } = {}): Promise<FakeLlm> {
  const key = opts.key ?? 'k';
  let queue: Behaviour[] = [];
  let gate: Promise<void> | undefined;

  const fake: FakeLlm = {
    url: '',
    requests: [],
    answers: [],
    script: (...b) => void queue.push(...b),
    fallback: { kind: 'answer' },
    answer: () => `This is the fake ${name} answer, streamed in several small pieces.`,
    chunkDelayMs: 0,
    hold() {
      let release = () => {};
      gate = new Promise<void>((r) => (release = r));
      return () => {
        gate = undefined;
        release();
      };
    },
    reset() {
      queue = [];
      fake.requests.length = 0;
      fake.answers.length = 0;
      fake.fallback = { kind: 'answer' };
      fake.answer = () => `This is the fake ${name} answer, streamed in several small pieces.`;
      fake.chunkDelayMs = 0;
      gate = undefined;
    },
    close: async () => {},
  };

  async function handle(req: IncomingMessage, res: ServerResponse) {
    const chunks: Buffer[] = [];
    for await (const c of req) chunks.push(c as Buffer);
    if (req.method === 'GET' && new URL(req.url ?? '/', 'http://fake').pathname === '/v1/models') {
      fake.requests.push({ path: '/v1/models', headers: req.headers, body: undefined, at: Date.now() });
      if (!wire.authorized(req.headers, key)) return send(res, 401, wire.errorBody(401, 'authentication_error', 'invalid x-api-key'));
      return send(res, 200, wire.models());
    }
    if (req.method !== 'POST' || req.url !== wire.path) return send(res, 404, wire.errorBody(404, 'not_found_error', `no route ${req.method} ${req.url}`));
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    fake.requests.push({ path: req.url, headers: req.headers, body, at: Date.now() });
    if (!wire.authorized(req.headers, key)) return send(res, 401, wire.errorBody(401, 'authentication_error', 'invalid x-api-key'));

    const behaviour = queue.shift() ?? fake.fallback;
    switch (behaviour.kind) {
      case 'hang':
        return; // never answers; the client's timeout has to deal with it
      case 'status':
        return send(
          res,
          behaviour.status,
          wire.errorBody(behaviour.status, behaviour.type, behaviour.message ?? `fake ${name} error ${behaviour.status}`),
          behaviour.headers,
        );
    }
    const text = behaviour.kind === 'answer' && behaviour.text !== undefined ? behaviour.text : fake.answer(body);
    const pieces = text.match(/\S+\s*/g) ?? [text];
    const input = fakeTokens(JSON.stringify(body.system ?? '') + JSON.stringify(body.messages));
    const answered: Answered = { text, inputTokens: input, outputTokens: pieces.length, model: body.model, streamed: wire.isStream(body) };
    if (behaviour.kind === 'cut' && !answered.streamed) return void res.socket?.destroy();
    if (!answered.streamed) {
      fake.answers.push(answered);
      return send(res, 200, wire.json(body, answered));
    }

    res.writeHead(200, { 'content-type': 'text/event-stream', 'cache-control': 'no-cache', 'request-id': `req_fake_${fake.requests.length}` });
    for (const frame of wire.streamStart(body, answered)) res.write(frame);
    for (const [i, piece] of pieces.entries()) {
      if (behaviour.kind === 'stream-error' && i === behaviour.afterChunks) {
        res.write(wire.streamError(behaviour.type, behaviour.message ?? 'Overloaded'));
        return void res.end();
      }
      if (behaviour.kind === 'cut' && i === behaviour.afterChunks) return void res.socket?.destroy();
      res.write(wire.streamChunk(body, answered, piece));
      if (i === 0 && gate) await gate;
      if (fake.chunkDelayMs) await sleep(fake.chunkDelayMs);
    }
    for (const frame of wire.streamEnd(body, answered)) res.write(frame);
    fake.answers.push(answered);
    res.end();
  }

  function send(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) {
    res.writeHead(status, { 'content-type': 'application/json', 'request-id': `req_fake_${fake.requests.length}`, ...headers });
    res.end(JSON.stringify(body));
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err) => {
      if (!res.headersSent) send(res, 500, wire.errorBody(500, 'api_error', String(err)));
      else res.destroy();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  fake.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${opts.basePath ?? ''}`;
  fake.close = async () => {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
  };
  return fake;
}

/** One SSE frame. */
export function sse(data: unknown, event?: string): string {
  return `${event ? `event: ${event}\n` : ''}data: ${typeof data === 'string' ? data : JSON.stringify(data)}\n\n`;
}
