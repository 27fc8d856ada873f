/** Builds requests for `switchboard simulate`, signed exactly as the platform would sign them. */
import { Webhook } from 'standardwebhooks';
import { randomUUID } from 'node:crypto';
import { hookSecretEnvName, type Config } from './config.ts';

export function signedHook(config: Config, source: string, payload: Record<string, unknown>): RequestInit {
  const name = hookSecretEnvName(source);
  const secret = config.hookSecrets[name];
  if (!secret) throw new Error(`${name} is not set: set it to the whsec_ secret the sending system signs with`);
  const id = `msg_${randomUUID()}`;
  const timestamp = new Date();
  const body = JSON.stringify(payload);
  const signature = new Webhook(secret).sign(id, timestamp, body);
  return {
    method: 'POST',
    body,
    headers: {
      'content-type': 'application/json',
      'webhook-id': id,
      'webhook-timestamp': String(Math.floor(timestamp.getTime() / 1000)),
      'webhook-signature': signature,
    },
  };
}
