/**
 * The request kinds a session script is made of (GET, NON GET, PUT, Block1, Block2, observe, ping, FETCH...),
 * the careless calls of a user (bad arguments, issue 16 findings 3, 7 and 8), and the response accessors a
 * user reads: each may end in a typed error only.
 */
import type { Observable } from 'rxjs';
import type { ClientSession } from '../src/session/client-session';
import type { CoapResponse } from '../src/exchange/response';
import { chance, pick, randomBytes, randomInt } from '../src/testing/mutate';
import type { RandomSource } from '../src/testing/seeded-random';
import { describeError, isTypedError, stackOf, type PartTally } from './tally';

/** The request kinds of a script. */
export const REQUEST_KINDS = [
  'get',
  'non-get',
  'put',
  'block1-put',
  'block1-post-non',
  'block2-get',
  'block2-non-get',
  'observe',
  'observe-large',
  'ping',
  'fetch',
  'fetch-large',
  'delete',
  'not-found',
  'bad-arguments',
] as const;
/** One of {@link REQUEST_KINDS}. */
export type RequestKind = (typeof REQUEST_KINDS)[number];

/** Reads the accessors a user reads; they may throw typed errors only. */
export function touchResponse(response: CoapResponse, tally: PartTally, context: () => string): void {
  const reads: readonly (() => unknown)[] = [
    () => response.codeName,
    () => response.typeName,
    () => response.contentFormat,
    () => response.etag,
    () => response.maxAge,
    () => response.observe,
    () => response.block1,
    () => response.block2,
    () => response.size1,
    () => response.size2,
    () => response.locationPath,
    () => response.locationQuery,
    () => response.text(),
    () => (response.contentFormat === 50 ? response.json() : undefined),
    () => (response.contentFormat === 60 ? response.cbor() : undefined),
  ];
  for (const read of reads) {
    try {
      read();
    } catch (error) {
      if (!isTypedError(error)) tally.fail('untyped', `response accessor: ${describeError(error)}`, context(), stackOf(error));
    }
  }
}

/** The Observable a request kind makes on a session, and how many values end it (observe: a few). */
export function startKind(kind: RequestKind, session: ClientSession, random: RandomSource): { source: Observable<unknown>; values: number } {
  switch (kind) {
    case 'get':
      return { source: session.get('/small'), values: 1 };
    case 'non-get':
      return { source: session.get('/small', { confirmable: false }), values: 1 };
    case 'put':
      return { source: session.put('/small', { payload: 'x'.repeat(randomInt(random, 0, 40)), contentFormat: 0 }), values: 1 };
    case 'block1-put':
      return { source: session.put('/upload', { payload: randomBytes(random, randomInt(random, 1100, 5000)), contentFormat: 42 }), values: 1 };
    case 'block1-post-non':
      return { source: session.post('/upload', { payload: randomBytes(random, randomInt(random, 1100, 3000)), confirmable: false }), values: 1 };
    case 'block2-get':
      return { source: session.get('/large'), values: 1 };
    case 'block2-non-get':
      return { source: session.get('/large', { confirmable: false }), values: 1 };
    case 'observe':
      return { source: session.observe('/obs'), values: randomInt(random, 1, 4) };
    case 'observe-large':
      return { source: session.observe('/obs-large'), values: randomInt(random, 1, 3) };
    case 'ping':
      return { source: session.ping(), values: 1 };
    case 'fetch':
      return { source: session.fetch('/small', { payload: '{"q":1}', contentFormat: 50 }), values: 1 };
    case 'fetch-large':
      return { source: session.fetch('/large', { payload: 'all', contentFormat: 0 }), values: 1 };
    case 'delete':
      return { source: session.delete('/small'), values: 1 };
    case 'not-found':
      return { source: session.get('/missing', { query: 'a=1' }), values: 1 };
    case 'bad-arguments':
      // A careless caller (issue 16 findings 3, 7, 8): the rule is a typed error, at the call or on the Observable.
      return { source: pick(random, BAD_CALLS)(session), values: 1 };
  }
}

type Init = Parameters<ClientSession['request']>[0];
const badInit = (init: unknown): Init => init as Init;
/** Calls a careless user makes; each must give a CoapArgumentError (or another typed error), never a crash or a hang. */
const BAD_CALLS: readonly ((session: ClientSession) => Observable<unknown>)[] = [
  (session) => session.request(badInit({ path: '/small', options: [{ number: -1, value: 'x' }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 70000, value: 'x' }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 1.5, value: 'x' }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 2048, value: null }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 2048, value: {} }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 2048, value: new Uint8Array(70000) }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 3, value: 'h'.repeat(300) }] })),
  (session) => session.request(badInit({ path: '/small', options: [{ number: 6, value: new Uint8Array(6) }] })),
  (session) => session.request(badInit({ path: '/small', method: 69 })),
  (session) => session.request(badInit({ path: '/small', method: 224 })),
  (session) => session.request(badInit({ path: '/small', method: 0 })),
  (session) => session.request(badInit({ path: '/small', method: 1.5 })),
  (session) => session.request(badInit({ path: '/small', method: 'BREW' })),
  (session) => session.request(badInit({ path: '/small', payload: 123 })),
  (session) => session.request(badInit({ path: '/small', payload: {} })),
  (session) => session.request(badInit({ path: '/small', token: 'abc' })),
  (session) => session.request(badInit({ path: '/small', token: new Uint8Array(9) })),
  (session) => session.request(badInit({ path: '/small', query: 5 })),
  (session) => session.request(badInit({ path: '/small', contentFormat: 70000 })),
  (session) => session.request(badInit({ path: '/small', accept: 'no/such-format' })),
  (session) => session.request(badInit({ path: '/large', block2: { size: 3 } })),
  (session) => session.request(badInit({ path: '/small', uri: 'http://example.com/x' })),
  (session) => session.request(badInit({ path: '/small', uri: 'coap://[::1/x' })),
  (session) => session.get(123 as unknown as string),
  (session) => session.get(null as unknown as string),
  (session) => session.get('/small', null as unknown as undefined),
  (session) => session.request(5 as unknown as Init),
  (session) => session.observe(5 as unknown as string),
  (session) => session.put('/upload', badInit({ payload: new Uint8Array(100_000), block1Size: 5 })),
];

/** Draws a script: a few request kinds, sometimes the same kind again. */
export function drawScript(random: RandomSource, length: number): RequestKind[] {
  const script: RequestKind[] = [];
  const protocolKinds = REQUEST_KINDS.filter((kind) => kind !== 'bad-arguments');
  // Careless calls are rarer, and come first now and then: a session's first request runs before it is connected.
  for (let i = 0; i < length; i++) {
    const careless = chance(random, i === 0 ? 0.08 : 0.03);
    script.push(careless ? 'bad-arguments' : i > 0 && chance(random, 0.15) ? script[i - 1] : pick(random, protocolKinds));
  }
  return script;
}

