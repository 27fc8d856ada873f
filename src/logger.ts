import { pino } from 'pino';
import type { Logger } from './ports.ts';

export function createLogger(level: string, bindings: Record<string, unknown> = {}): Logger & { child(b: object): Logger } {
  return pino({ level, base: { service: 'switchboard', ...bindings }, redact: ['*.token', '*.secret', '*.authorization'] });
}
