import fc from 'fast-check';
import { CoapArgumentError } from '../../src/errors';
import { createPdu, type CoapPdu } from '../../src/codec/pdu';
import { hashToken, TokenMatcher, type ResponseHandler } from '../../src/exchange/token-matcher';
import { sequentialTokenGenerator } from '../../src/exchange/token';

const hex = (token: Uint8Array): string => Buffer.from(token).toString('hex');
const response = (token: Uint8Array): CoapPdu => createPdu({ code: 69, token });

/** A handler that records the tokens it was given. */
function recorder(log: string[], name: string): ResponseHandler {
  return { handleResponse: (pdu) => (log.push(`${name}:${hex(pdu.token)}`), true) };
}

describe('TokenMatcher', () => {
  it('routes each response to the exchange holding its token, many live at once', () => {
    const tokens = new TokenMatcher(sequentialTokenGenerator(2));
    const log: string[] = [];
    const live = Array.from({ length: 100 }, (_, i) => {
      const token = tokens.newToken();
      tokens.add(token, recorder(log, `h${i}`));
      return token;
    });
    expect(tokens.size).toBe(100);
    for (const token of [...live].reverse()) expect(tokens.route(response(token))).toBe(true);
    expect(log).toEqual(live.map((token, i) => `h${i}:${hex(token)}`).reverse());
    expect(tokens.route(response(Uint8Array.of(0xff, 0xff)))).toBe(false);
  });

  it('frees a token only for the handler holding it', () => {
    const tokens = new TokenMatcher(sequentialTokenGenerator(2));
    const log: string[] = [];
    const a = recorder(log, 'a');
    const b = recorder(log, 'b');
    const other = recorder(log, 'other');
    const first = tokens.newToken();
    tokens.add(first, a); // the slot
    const second = tokens.newToken();
    tokens.add(second, b); // the table
    tokens.remove(second, other);
    expect(tokens.route(response(second))).toBe(true);
    tokens.remove(second, b);
    expect(tokens.route(response(second))).toBe(false);
    expect(tokens.size).toBe(1);
  });

  it('refuses a token a live exchange holds, in the slot or in the table', () => {
    const tokens = new TokenMatcher(sequentialTokenGenerator(2));
    const handler = recorder([], 'h');
    tokens.add(Uint8Array.of(1), handler);
    tokens.add(Uint8Array.of(2), handler);
    expect(() => tokens.add(Uint8Array.of(1), handler)).toThrow(CoapArgumentError);
    expect(() => tokens.add(Uint8Array.of(2), handler)).toThrow(CoapArgumentError);
  });

  it('skips tokens in use when the generator returns them again', () => {
    let next = 0;
    const cycle = [1, 2, 1, 2, 3];
    const tokens = new TokenMatcher(() => Uint8Array.of(cycle[next++ % cycle.length]));
    const handler = recorder([], 'h');
    tokens.add(tokens.newToken(), handler); // 1
    tokens.add(tokens.newToken(), handler); // 2
    expect([...tokens.newToken()]).toEqual([3]); // 1 and 2 are live
    expect(() => new TokenMatcher(() => Uint8Array.of(7)).newToken()).not.toThrow();
    const stuck = new TokenMatcher(() => Uint8Array.of(7));
    stuck.add(stuck.newToken(), handler);
    expect(() => stuck.newToken()).toThrow(CoapArgumentError);
  });

  /** Two-byte tokens whose home slot in the first table (16 slots) is `home`. */
  const sharingHome = (home: number, count: number): Uint8Array[] => {
    const found: Uint8Array[] = [];
    for (let i = 0; found.length < count; i++) {
      const token = Uint8Array.of(i >> 8, i & 0xff);
      if ((hashToken(token) & 15) === home) found.push(token);
    }
    return found;
  };

  it.each([
    ['in the middle of the table', 6],
    ['at its end, runs wrapping round to the start', 15],
  ])('keeps every token reachable while tokens sharing home slots leave in any order (%s)', (_, home) => {
    // Seven tokens in the table (the 8th would grow it): a run of five sharing one home, two of the next home.
    const run = [...sharingHome(home, 5), ...sharingHome((home + 1) & 15, 2)];
    for (let rotation = 0; rotation < run.length; rotation++) {
      for (const order of [run, [...run].reverse()]) {
        const leaving = [...order.slice(rotation), ...order.slice(0, rotation)];
        const tokens = new TokenMatcher(sequentialTokenGenerator(2));
        const log: string[] = [];
        tokens.add(Uint8Array.of(0xee, 0xee, 0xee), recorder(log, 'slot'));
        const handlers = new Map(run.map((token) => [hex(token), recorder(log, hex(token))]));
        for (const token of run) tokens.add(token, handlers.get(hex(token))!);
        const live = new Set(run.map(hex));
        for (const token of leaving) {
          tokens.remove(token, handlers.get(hex(token))!);
          live.delete(hex(token));
          for (const other of run) expect(tokens.route(response(other))).toBe(live.has(hex(other)));
        }
      }
    }
  });

  it('agrees with a Map over any sequence of adds, removes and lookups (the table grows and shifts entries back)', () => {
    // Short tokens from a small alphabet: many share probe runs, so deletions move entries.
    const token = fc.uint8Array({ minLength: 0, maxLength: 3 }).map((bytes) => bytes.map((byte) => byte % 5));
    const step = fc.oneof(
      fc.record({ kind: fc.constant('add' as const), token }),
      fc.record({ kind: fc.constant('remove' as const), token }),
      fc.record({ kind: fc.constant('route' as const), token }),
    );
    fc.assert(
      fc.property(fc.array(step, { maxLength: 300 }), (steps) => {
        const tokens = new TokenMatcher(sequentialTokenGenerator(2));
        /** Token (hex) -> the name and handler holding it. */
        const model = new Map<string, { name: string; handler: ResponseHandler }>();
        const log: string[] = [];
        let made = 0;
        for (const { kind, token: bytes } of steps) {
          const key = hex(bytes);
          const held = model.get(key);
          if (kind === 'add') {
            if (held !== undefined) {
              expect(() => tokens.add(bytes, recorder(log, 'x'))).toThrow(CoapArgumentError);
              continue;
            }
            const name = `h${made++}`;
            const handler = recorder(log, name);
            tokens.add(bytes, handler);
            model.set(key, { name, handler });
          } else if (kind === 'remove') {
            if (held === undefined) continue;
            tokens.remove(Uint8Array.from(bytes), held.handler); // an equal token, not the same array
            model.delete(key);
          } else {
            log.length = 0;
            expect(tokens.route(response(Uint8Array.from(bytes)))).toBe(held !== undefined);
            expect(log).toEqual(held === undefined ? [] : [`${held.name}:${key}`]);
          }
          expect(tokens.size).toBe(model.size);
        }
        for (const [key, { name }] of model) {
          log.length = 0;
          expect(tokens.route(response(Uint8Array.from(Buffer.from(key, 'hex'))))).toBe(true);
          expect(log).toEqual([`${name}:${key}`]);
        }
      }),
      { numRuns: 300 },
    );
  });
});
