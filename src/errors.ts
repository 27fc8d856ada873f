/** Typed errors with the HTTP status and code they map to; one error mapper turns them into JSON. */
export class AppError extends Error {
  readonly status: number;
  readonly code: string;
  readonly headers: Record<string, string>;
  constructor(status: number, code: string, message: string, headers: Record<string, string> = {}) {
    super(message);
    this.name = 'AppError';
    this.status = status;
    this.code = code;
    this.headers = headers;
  }
}

export class RateLimitedError extends AppError {
  constructor(retryAfterSeconds: number) {
    super(429, 'rate_limited', `Too many messages from this user; retry in ${retryAfterSeconds} s.`, {
      'Retry-After': String(retryAfterSeconds),
    });
  }
}

export class NotFoundError extends AppError {
  constructor(what: string) {
    super(404, 'not_found', `${what} not found`);
  }
}

export class BadRequestError extends AppError {
  constructor(code: string, message: string) {
    super(400, code, message);
  }
}

/**
 * The database cannot take this request now: unreachable (`down`) or every connection busy past the wait
 * bound (`busy`). Nothing was stored; the sender is told when to try again.
 */
export class DatabaseUnavailableError extends AppError {
  readonly fault: 'down' | 'busy';
  constructor(fault: 'down' | 'busy', message: string, retryAfterSeconds: number, cause?: unknown) {
    super(503, 'database_unavailable', message, { 'Retry-After': String(retryAfterSeconds) });
    this.name = 'DatabaseUnavailableError';
    this.fault = fault;
    if (cause !== undefined) this.cause = cause;
  }
}
