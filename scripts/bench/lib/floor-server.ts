/** The /hooks floor: bare Hono verifying Standard Webhooks signatures with the same code, storing nothing. */
import { serve } from '@hono/node-server';
import { Hono } from 'hono';
import { verifyHook } from '../../../channels/hooks/index.ts';

const secret = process.env.SECRET!;
const app = new Hono();
app.get('/readyz', (c) => c.json({ status: 'ready' }));
app.post('/hooks/:source', async (c) => {
  const body = new Uint8Array(await c.req.arrayBuffer());
  verifyHook({ body, headers: c.req.raw.headers, url: c.req.url, params: c.req.param() }, secret);
  JSON.parse(new TextDecoder().decode(body));
  return c.json({ ok: true }, 202);
});
serve({ fetch: app.fetch, port: Number(process.env.PORT), hostname: '127.0.0.1' });
process.on('SIGTERM', () => process.exit(0));
