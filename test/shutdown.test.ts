/**
 * Stopping a listening process: a keep-alive connection that was busy when the listener closed is not kept
 * for further requests. Without this, a client or load balancer reusing it goes on reaching a process that
 * is shutting down.
 */
import { subscribe, unsubscribe } from 'node:diagnostics_channel';
import http from 'node:http';
import { afterEach, expect, it } from 'vitest';
import { ADMIN_TOKEN, startTestSwitchboard, type TestSwitchboard } from './support/switchboard.ts';

let sb: TestSwitchboard | undefined;
afterEach(async () => {
  await sb?.close();
  sb = undefined;
});

type Answer = { status: number; connection: string | undefined; body: string };

function send(agent: http.Agent, url: string, body: string, midway?: () => void): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const req = http.request(url, { method: 'POST', agent, headers: { authorization: `Bearer ${ADMIN_TOKEN}`, 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => (text += chunk));
      res.on('end', () => resolve({ status: res.statusCode!, connection: res.headers.connection, body: text }));
    });
    // Half the body first: the request is in flight on its connection once the server has begun it (read its
    // headers), and only then does `midway` run. Before that, the connection would still count as idle.
    const begun = () => {
      unsubscribe('http.server.request.start', begun);
      setImmediate(() => {
        midway?.();
        req.end(body.slice(5));
      });
    };
    subscribe('http.server.request.start', begun);
    req.on('error', (err) => {
      unsubscribe('http.server.request.start', begun);
      reject(err);
    });
    req.write(body.slice(0, 5));
  });
}

it('a request in flight when the process stops is answered with Connection: close, and its connection is not reused', { timeout: 20_000 }, async () => {
  sb = await startTestSwitchboard('pglite', { PORT: '0', HOST: '127.0.0.1' }, { listen: true });
  const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
  const url = `${sb.url}/api/messages`;
  const body = JSON.stringify({ text: 'help', user_id: 'leaving' });

  // A first request opens the one keep-alive connection; it is idle, and open, afterwards.
  const warm = await send(agent, url, body);
  expect(warm.status).toBe(202);
  expect(warm.connection).toBe('keep-alive');

  let stopped: Promise<void> | undefined;
  const inFlight = await send(agent, url, body, () => {
    stopped = sb!.stop();
  });
  expect(inFlight.status).toBe(202);
  expect(inFlight.connection).toBe('close');

  // The agent would reuse a kept connection; there is none, and the listener is closed.
  await expect(send(agent, url, body)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  await stopped;
  agent.destroy();
});
