/** The Slack peer: a bare Bolt app (the project's own @slack/bolt, HTTPReceiver) that verifies and only acks. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { App, HTTPReceiver, LogLevel } from '@slack/bolt';

const ready = (_req: IncomingMessage, res: ServerResponse) => {
  res.writeHead(200, { 'content-type': 'application/json' });
  res.end('{"status":"ready"}');
};
const receiver = new HTTPReceiver({
  signingSecret: process.env.SLACK_SECRET!,
  logLevel: LogLevel.ERROR,
  customRoutes: [{ path: '/readyz', method: ['GET'], handler: ready }],
});
// A fixed authorization: a single-token app would otherwise call auth.test (on the real Slack) on its first request.
const authorize = async () => ({ botToken: 'xoxb-bench', botId: 'B0BENCH01', botUserId: 'U0BOT0001' });
const app = new App({ receiver, authorize, logLevel: LogLevel.ERROR });
app.command('/sb', async ({ ack }) => {
  await ack();
});
await app.start(Number(process.env.PORT));
process.on('SIGTERM', () => process.exit(0));
