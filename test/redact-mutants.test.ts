/**
 * The redaction layer edge by edge: each case is a small slip in src/redact.ts (an order, a boundary, a skipped
 * form of a secret) that the broader redact tests let through. Fast on purpose: `npm run mutate` runs it per mutant.
 */
import { describe, expect, it } from 'vitest';
import { loadConfig } from '../src/config.ts';
import { configuredSecrets, createRedactor } from '../src/redact.ts';

describe('which secrets the configuration holds', () => {
  it('the database password decoded, Twilio Basic auth only with both halves, and every hook secret', () => {
    const secrets = configuredSecrets(
      loadConfig({
        DATABASE_URL: 'postgres://app:db-p%40ssword-123@db.internal:5432/sb',
        TWILIO_AUTH_TOKEN: 'twilio-auth-token-0123',
        HOOK_SECRET_DEPLOYS: 'whsec_aG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==',
      }),
    );
    expect(secrets.DATABASE_URL).toBe('db-p@ssword-123');
    expect(secrets.TWILIO_AUTH_TOKEN).toBe('twilio-auth-token-0123');
    expect(Object.keys(secrets)).not.toContain('TWILIO_BASIC_AUTH');
    expect(Object.values(secrets)).toContain('whsec_aG9vay1zZWNyZXQtMDEyMzQ1Njc4OQ==');
    expect(Object.keys(configuredSecrets(loadConfig({ DATABASE_URL: 'postgres://app@db.internal/sb' })))).not.toContain('DATABASE_URL');
    const redactor = createRedactor(secrets);
    expect(redactor.text('password db-p@ssword-123 refused')).toBe('password [redacted:DATABASE_URL] refused');
    const basic = Buffer.from('AC0123456789abcdef0123456789abcdef:twilio-auth-token-0123').toString('base64');
    const both = configuredSecrets(loadConfig({ TWILIO_ACCOUNT_SID: 'AC0123456789abcdef0123456789abcdef', TWILIO_AUTH_TOKEN: 'twilio-auth-token-0123' }));
    expect(both.TWILIO_BASIC_AUTH).toBe(basic);
  });
});

describe('the forms a secret takes', () => {
  it('as is from 8 characters, not shorter, every time it appears', () => {
    const r = createRedactor({ EIGHT: '12345678', SEVEN: '1234567' });
    expect(r.text('a 12345678 b 1234567 c 12345678')).toBe('a [redacted:EIGHT] b 1234567 c [redacted:EIGHT]');
  });

  it('whole: only a PEM key is split into lines, only a whsec_ secret loses its prefix', () => {
    const r = createRedactor({ LINES: 'line-one-abc\nline-two-def', PLAIN: 'abcdef-secret-value' });
    expect(r.text('line-one-abc -secret-value')).toBe('line-one-abc -secret-value');
    expect(r.text('line-one-abc\nline-two-def')).toBe('[redacted:LINES]');
  });

  it('escaped inside a JSON string, with regex characters taken literally', () => {
    const secret = 'pa"ss\\wo.rd*(1)+';
    const r = createRedactor({ S: secret });
    expect(r.text(JSON.stringify({ k: secret }))).toBe('{"k":"[redacted:S]"}');
    expect(r.text('pa"ss\\woXrd*(1)+')).toBe('pa"ss\\woXrd*(1)+');
  });

  it('the longest first, so a secret that starts with another is redacted whole', () => {
    const r = createRedactor({ SHORT: 'secret-value-1', LONG: 'secret-value-1-longer' });
    expect(r.text('x secret-value-1-longer y')).toBe('x [redacted:LONG] y');
  });

  it('named after the first setting that holds it', () => {
    expect(createRedactor({ FIRST: 'same-value-123', SECOND: 'same-value-123' }).text('same-value-123')).toBe('[redacted:FIRST]');
  });

  it('a PEM key with CRLF line ends: each body line, trimmed, and the body joined', () => {
    const lines = ['MIIEowIBAAKCAQEAx1y2z3abcdefghijklmnop', 'qrstuvwxyz0123456789ABCDEFGHIJKLMNOPQR'];
    const pem = ['-----BEGIN RSA PRIVATE KEY-----', `${lines[0]} `, lines[1], '-----END RSA PRIVATE KEY-----', ''].join('\r\n');
    const r = createRedactor({ KEY: pem });
    expect(r.text(`first ${lines[0]}\n`)).toBe('first [redacted:KEY]\n');
    expect(r.text(`last ${lines[1]}\r`)).toBe('last [redacted:KEY]\r');
    expect(r.text(`joined ${lines[0]} ${lines[1]}.`)).toBe('joined [redacted:KEY].');
  });

  it('a standard-webhooks secret also without its whsec_ prefix', () => {
    const r = createRedactor({ HOOK: 'whsec_c2VjcmV0LWJvZHktMDEyMzQ1' });
    expect(r.text('key c2VjcmV0LWJvZHktMDEyMzQ1 used')).toBe('key [redacted:HOOK] used');
    expect(createRedactor({ OTHER: 'xwhsec_c2VjcmV0LWJvZHktMDEyMzQ1' }).text('c2VjcmV0LWJvZHktMDEyMzQ1')).toBe('c2VjcmV0LWJvZHktMDEyMzQ1');
  });

  it('one added after start is redacted from then on; an empty one changes nothing', () => {
    const r = createRedactor();
    expect(r.text('admin-token-0123456789')).toBe('admin-token-0123456789');
    r.add('ADMIN_TOKEN', undefined);
    r.add('EMPTY', '');
    expect(r.text('admin-token-0123456789')).toBe('admin-token-0123456789');
    r.add('ADMIN_TOKEN', 'admin-token-0123456789');
    expect(r.text('admin-token-0123456789')).toBe('[redacted:ADMIN_TOKEN]');
  });
});

describe('walking values', () => {
  const r = createRedactor({ TOKEN: 'the-secret-token-01' });

  /** An object nested `levels` deep, with a string at the bottom. */
  const nested = (levels: number): unknown => (levels === 0 ? 'the-secret-token-01' : { next: nested(levels - 1) });
  const bottom = (v: unknown): unknown => (typeof v === 'object' && v !== null ? bottom((v as { next: unknown }).next) : v);

  it('go ten objects deep, and no deeper, counting arrays and causes as levels too', () => {
    expect(bottom(r.value(nested(11)))).toBe('[redacted:TOKEN]');
    expect(bottom(r.value(nested(12)))).toBe('[redacted:too deep]');
    let list: unknown = 'x';
    for (let i = 0; i < 12; i++) list = [list];
    expect(JSON.stringify(r.value(list))).toContain('[redacted:too deep]');
    let err: unknown = 'x';
    for (let i = 0; i < 12; i++) err = new Error(`level ${i}`, { cause: err });
    const field = (levels: number) => bottom((r.value(Object.assign(new Error('x'), { data: nested(levels) })) as unknown as { data: unknown }).data);
    expect(field(10)).toBe('[redacted:TOKEN]');
    expect(field(11)).toBe('[redacted:too deep]');
    let cause = r.value(err);
    while (cause instanceof Error) cause = cause.cause;
    expect(cause).toBe('[redacted:too deep]');
  });

  it('read Headers by their entries', () => {
    const out = r.value({ headers: new Headers({ authorization: 'Bearer abc', 'x-a': 'the-secret-token-01' }) });
    expect(out.headers).toEqual({ authorization: '[redacted]', 'x-a': '[redacted:TOKEN]' });
  });

  it('keep a cycle a cycle, in objects and arrays', () => {
    const obj: Record<string, unknown> = { a: 'the-secret-token-01' };
    obj.self = obj;
    const out = r.value(obj);
    expect(out.self).toBe(out);
    expect(out.a).toBe('[redacted:TOKEN]');
    const list: unknown[] = ['the-secret-token-01'];
    list.push(list);
    const copy = r.value(list);
    expect(Array.isArray(copy)).toBe(true);
    expect(copy[1]).toBe(copy);
  });

  it('leave dates, byte arrays and other primitives as they are, and read a Map by its entries', () => {
    const date = new Date(0);
    const bytes = new Uint8Array([1, 2]);
    const out = r.value({ date, bytes, n: 1, none: null, map: new Map([['k', 'the-secret-token-01']]) });
    expect(out.date).toBe(date);
    expect(out.bytes).toBe(bytes);
    expect(out.n).toBe(1);
    expect(out.none).toBeNull();
    expect(out.map).toEqual({ k: '[redacted:TOKEN]' });
    // An object with an entries() of its own is not a Map: its own fields are walked.
    const entries = () => [['x', 'y']][Symbol.iterator]();
    expect(r.value({ entries, token: 'abc' })).toEqual({ entries, token: '[redacted]' });
  });

  it('blank a credential-named field only when it holds a non-empty string', () => {
    expect(r.value({ Authorization: 'Basic abc', password: '', token: 42, api_key: { nested: 'x' }, note: 'abc' })).toEqual({
      Authorization: '[redacted]',
      password: '',
      token: 42,
      api_key: { nested: 'x' },
      note: 'abc',
    });
  });

  it('copy an error with its own fields, its name, no stack it did not have, and no cause it did not have', () => {
    const err = Object.assign(new Error('failed with the-secret-token-01'), { code: 'E_X', secret: 'abc', token: 7 });
    // A name set the way many libraries do: not enumerable, so not among the fields copied below.
    Object.defineProperty(err, 'name', { value: 'FetchError', enumerable: false });
    const copy = r.value(err);
    expect(copy).toBeInstanceOf(Error);
    expect(copy.message).toBe('failed with [redacted:TOKEN]');
    expect(copy.name).toBe('FetchError');
    expect(Object.keys(copy)).toEqual(['name', 'code', 'secret', 'token']);
    expect(copy).toMatchObject({ code: 'E_X', secret: '[redacted]', token: 7 });
    // Fields stay writable and deletable, as on the original.
    (copy as unknown as { code: string }).code = 'E_Y';
    expect((copy as unknown as { code: string }).code).toBe('E_Y');
    expect(delete (copy as unknown as { code?: string }).code).toBe(true);
    const plain = new Error('x');
    plain.stack = undefined;
    const plainCopy = r.value(plain);
    expect(Object.keys(plainCopy)).toEqual([]);
    expect(plainCopy.stack).toBeUndefined();
    expect('cause' in plainCopy).toBe(false);
    expect(r.value(new Error('x', { cause: 'the-secret-token-01' })).cause).toBe('[redacted:TOKEN]');
  });
});
