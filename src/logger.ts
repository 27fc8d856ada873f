import { pino, type DestinationStream } from 'pino';
import type { Logger } from './ports.ts';
import type { Redactor } from './redact.ts';

export type LoggerOptions = {
  /** Every argument of every log call (message, fields at any depth, errors and their causes) passes through it. */
  redactor?: Redactor;
  /** Where lines go; stdout by default. */
  destination?: DestinationStream;
};

export function createLogger(level: string, bindings: Record<string, unknown> = {}, opts: LoggerOptions = {}): Logger & { child(b: object): Logger } {
  const { redactor } = opts;
  const options: pino.LoggerOptions = {
    level,
    base: { service: 'switchboard', ...bindings },
    // pino's own `redact` only knows fixed paths; secrets hide in URLs, stacks and nested request configs.
    ...(redactor && {
      hooks: {
        logMethod(args, method) {
          return method.apply(this, args.map((a) => redactor.value(a)) as Parameters<typeof method>);
        },
      },
      formatters: { bindings: (b) => redactor.value(b) },
    }),
    redact: ['*.token', '*.secret', '*.authorization'],
  };
  const logger = opts.destination ? pino(options, opts.destination) : pino(options);
  if (redactor) {
    // pino formats the bindings of the root logger only (a child's formatter is reset), so a child's are redacted
    // here; children inherit this `child`, so theirs are too.
    const child = logger.child;
    logger.child = function (this: unknown, b: pino.Bindings, childOptions?: pino.ChildLoggerOptions): unknown {
      return Reflect.apply(child, this, [redactor.value(b), childOptions]);
    } as typeof child;
  }
  return logger;
}
