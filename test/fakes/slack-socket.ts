/**
 * Slack's Socket Mode side for tests: the WebSocket server the fake's apps.connections.open points at
 * (ws://127.0.0.1:<port>/link/). Like Slack it greets each connection with `hello`, sends envelopes
 * (events_api, slash_commands, interactive) and `disconnect` messages, and records the acks it gets back.
 */
import type { Server } from 'node:http';
import { WebSocketServer, type WebSocket } from 'ws';

export type SocketAck = { envelope_id: string; payload?: Record<string, unknown>; at: number };
export type SocketEnvelope = {
  envelope_id: string;
  type: string;
  payload: unknown;
  accepts_response_payload: boolean;
  retry_attempt?: number;
  retry_reason?: string;
};

export type FakeSocketMode = {
  /** Connections opened so far (open or closed). */
  opened(): number;
  /** Connections open now. */
  open(): number;
  /** Every ack received, in order. */
  acks: SocketAck[];
  /** Resolves once `n` connections are open at once. */
  waitForOpen(n?: number): Promise<void>;
  /** Sends an envelope on the newest open connection. */
  send(envelope: SocketEnvelope): void;
  /** Resolves with the ack of `envelopeId`, or undefined if none came within `ms`. */
  ackOf(envelopeId: string, ms?: number): Promise<SocketAck | undefined>;
  /** Sends Slack's `disconnect` message (refresh_requested, warning, link_disabled) on every open connection. */
  disconnect(reason: string): void;
  /** Drops every open connection without a close frame, as a broken network would. */
  drop(): void;
  close(): Promise<void>;
};

let seq = 0;

/** An envelope as Slack sends it; `retry` repeats an earlier envelope as a redelivery does (same payload, new id). */
export function envelope(
  type: 'events_api' | 'slash_commands' | 'interactive',
  payload: unknown,
  retry?: { attempt: number; reason?: string },
): SocketEnvelope {
  return {
    envelope_id: `env-${++seq}-${Math.random().toString(36).slice(2, 8)}`,
    type,
    payload,
    // Slack takes a response payload for slash commands (and some interactions), not for Events API envelopes.
    accepts_response_payload: type === 'slash_commands',
    ...(retry ? { retry_attempt: retry.attempt, retry_reason: retry.reason ?? 'timeout' } : {}),
  };
}

export function attachSocketMode(server: Server): FakeSocketMode {
  const wss = new WebSocketServer({ server, path: '/link/' });
  const sockets: WebSocket[] = [];
  const acks: SocketAck[] = [];
  const waiters: (() => void)[] = [];
  let opened = 0;
  const live = () => sockets.filter((s) => s.readyState === s.OPEN);
  const notify = () => {
    for (const w of waiters.splice(0)) w();
  };

  wss.on('connection', (socket) => {
    opened++;
    sockets.push(socket);
    socket.on('message', (data) => {
      const message = JSON.parse(String(data)) as { envelope_id?: string; payload?: Record<string, unknown> };
      if (message.envelope_id)
        acks.push({
          envelope_id: message.envelope_id,
          ...(message.payload && Object.keys(message.payload).length ? { payload: message.payload } : {}),
          at: Date.now(),
        });
      notify();
    });
    socket.on('close', notify);
    socket.send(
      JSON.stringify({ type: 'hello', num_connections: live().length, connection_info: { app_id: 'A0APP0001' }, debug_info: { host: 'fake-socket-mode' } }),
    );
    notify();
  });

  async function until<T>(check: () => T | undefined, ms: number): Promise<T | undefined> {
    const deadline = Date.now() + ms;
    for (;;) {
      const value = check();
      if (value !== undefined || Date.now() >= deadline) return value;
      await new Promise<void>((resolve) => {
        waiters.push(resolve);
        setTimeout(resolve, Math.max(0, Math.min(100, deadline - Date.now())));
      });
    }
  }

  return {
    opened: () => opened,
    open: () => live().length,
    acks,
    async waitForOpen(n = 1) {
      if ((await until(() => (live().length >= n ? true : undefined), 30_000)) === undefined)
        throw new Error(`no ${n} open Socket Mode connection(s) within 30 s`);
    },
    send(env) {
      const socket = live().at(-1);
      if (!socket) throw new Error('no open Socket Mode connection to send on');
      socket.send(JSON.stringify(env));
    },
    ackOf: (envelopeId, ms = 10_000) => until(() => acks.find((a) => a.envelope_id === envelopeId), ms),
    disconnect(reason) {
      for (const socket of live()) socket.send(JSON.stringify({ type: 'disconnect', reason, debug_info: { host: 'fake-socket-mode' } }));
    },
    drop() {
      for (const socket of live()) socket.terminate();
    },
    close() {
      for (const socket of sockets) socket.terminate();
      return new Promise<void>((resolve) => wss.close(() => resolve()));
    },
  };
}
