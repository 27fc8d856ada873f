/**
 * The contract of a timestamped signature (Slack's v0, Standard Webhooks for /hooks): what a channel's `verify`
 * accepts and refuses, with the error code each refusal carries, the clock injected. Each channel's own file keeps
 * what is its own (a documented test vector, the wording of its messages, several signatures in one header).
 */
import { describe, expect, it } from 'vitest';
import { VerificationError, type RawRequest } from '../../src/ports.ts';

export type TimestampedSignature = {
  name: string;
  /** A request signed at `at`: with the right secret, another one, or its body changed after signing. */
  request(at: Date, how?: 'other-secret' | 'tampered'): RawRequest;
  /** The adapter's verify, its clock at `now`. */
  verify(req: RawRequest, now: Date): void;
  /** The header carrying the timestamp, and every header a signature needs. */
  timestampHeader: string;
  headers: string[];
};

const NOW = new Date('2025-06-01T12:00:00Z');
const at = (offsetSeconds: number) => new Date(NOW.getTime() + offsetSeconds * 1000);

export function timestampedSignatureContract(channel: TimestampedSignature) {
  const code = (req: RawRequest, now = NOW): string | undefined => {
    try {
      channel.verify(req, now);
      return undefined;
    } catch (err) {
      expect(err).toBeInstanceOf(VerificationError);
      return (err as VerificationError).code;
    }
  };

  describe(`${channel.name} signature contract`, () => {
    it('accepts a request signed now and at the edges of the ±300 s window', () => {
      for (const offset of [0, -300, 300]) expect(code(channel.request(at(offset)))).toBeUndefined();
    });

    it.each([
      ['stale by 301 s', -301],
      ['301 s in the future', 301],
      ['a day old', -86_400],
    ])('refuses a timestamp %s as stale_timestamp', (_, offset) => {
      expect(code(channel.request(at(offset)))).toBe('stale_timestamp');
    });

    it('judges the timestamp by the injected clock, not the machine clock', () => {
      const old = channel.request(at(-400));
      expect(code(old)).toBe('stale_timestamp');
      expect(code(old, at(-400))).toBeUndefined();
    });

    it('refuses another secret and a body changed after signing as bad_signature', () => {
      expect(code(channel.request(NOW, 'other-secret'))).toBe('bad_signature');
      expect(code(channel.request(NOW, 'tampered'))).toBe('bad_signature');
    });

    it('refuses a timestamp that is not whole seconds as bad_timestamp', () => {
      for (const bad of ['12e5', `${Math.floor(NOW.getTime() / 1000)}abc`]) {
        const req = channel.request(NOW);
        req.headers.set(channel.timestampHeader, bad);
        expect(code(req)).toBe('bad_timestamp');
      }
    });

    it('refuses a request missing any signature header as missing_signature', () => {
      for (const header of channel.headers) {
        const req = channel.request(NOW);
        req.headers.delete(header);
        expect(code(req), header).toBe('missing_signature');
      }
    });
  });
}
