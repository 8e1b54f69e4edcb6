/**
 * The README's operator and testing examples (text in /tmp/notes/readme-ops.md, merged into README.md "Operators:
 * rxcoap/operators" and "Testing your code"), in the same words (plus `scheduler` where a timer runs), against a
 * scripted server on the fake transport in virtual time instead of a real one, importing the package entries by
 * name as the README does.
 */
import { interval, map, merge, shareReplay, take, tap, toArray } from 'rxjs';
import { CoapContext, CoapTimeoutError, ContentFormat, MessageType, OptionNumber, ResponseCode, cborPayload, createPdu, decodeBlock, decodeUint, encodeBlock, getOption, type CoapPdu } from 'rxcoap';
import { decodeBody, decodeFrames, encodeFrames, freshNotifications, joinBlocks, reobserveOnError, throwOnErrorCode } from 'rxcoap/operators';
import { createCoapTestScheduler, createFakeTransport, notification, piggybackedResponse, sentFrames, type FakeReply } from 'rxcoap/testing';

const FIRMWARE = Uint8Array.from({ length: 100 }, (_, i) => i);

/** The server the README talks to: /firmware in 32-byte blocks, /sensors/temperature (5.03 once), /must-exist 4.04. */
function server() {
  let registrations = 0;
  return (request: CoapPdu): FakeReply | FakeReply[] | undefined => {
    if (request.type !== MessageType.CON) return undefined;
    const path = request.options.filter((o) => o.number === OptionNumber.UriPath).map((o) => new TextDecoder().decode(o.value)).join('/');
    if (path === 'firmware') {
      const asked = getOption(request, OptionNumber.Block2);
      const num = asked === undefined ? 0 : decodeBlock(asked).num;
      const more = (num + 1) * 32 < FIRMWARE.length;
      return piggybackedResponse(request, { payload: FIRMWARE.subarray(num * 32, num * 32 + 32), options: [{ number: OptionNumber.Block2, value: encodeBlock({ num, more, szx: 1 }) }] });
    }
    if (path === 'sensors/temperature') {
      const observe = getOption(request, OptionNumber.Observe);
      if (observe === undefined || decodeUint(observe) !== 0) return piggybackedResponse(request);
      if (registrations++ === 0) return piggybackedResponse(request, { code: ResponseCode.ServiceUnavailable });
      return [piggybackedResponse(request, { observe: 1, contentFormat: ContentFormat.Cbor, payload: cborPayload(21.5) }), notification(request, 2, { delay: 500, contentFormat: ContentFormat.Cbor, payload: cborPayload(22) })];
    }
    return piggybackedResponse(request, { code: ResponseCode.NotFound, payload: 'no such thing' });
  };
}

describe('README: Operators (rxcoap/operators)', () => {
  it('runs the block as written, on the fake transport', () => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    const fake = createFakeTransport({ scheduler, respond: server() });
    const progress: string[] = [];
    scheduler.run(({ cold, expectObservable }) => {
      const ctx = new CoapContext({ ...scheduler.contextOptions(), blockMode: { singleBody: false } });
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      const byteChunks$ = cold('-a|', { a: createPdu({ code: ResponseCode.Content, token: Uint8Array.of(1) }) }).pipe(encodeFrames('stream'));

      // ---- as in the README ----
      const firmware$ = session.get('/firmware').pipe(
        tap((part) => progress.push(`${part.progress?.received} of ${part.progress?.total ?? '?'} bytes`)),
        joinBlocks(),
      );
      const temperature$ = session.observe('/sensors/temperature').pipe(
        reobserveOnError({ initialDelay: 1000, maxDelay: 60_000, scheduler }),
        decodeBody(),
        shareReplay({ bufferSize: 1, refCount: true }),
      );
      const mustExist$ = session.get('/must-exist').pipe(throwOnErrorCode());
      const pdus$ = byteChunks$.pipe(decodeFrames('stream'));
      const pings$ = interval(1000, scheduler).pipe(
        map((n) => createPdu({ type: MessageType.CON, code: 0, messageId: n })),
        encodeFrames('datagram'),
      );
      // ---- end ----

      expectObservable(firmware$.pipe(map((r) => Array.from(r.payload)))).toBe('(a|)', { a: Array.from(FIRMWARE) });
      // 5.03 at once, registered again 1 s later: 21.5, then 22 half a second after.
      expectObservable(temperature$, '^ 2s !').toBe('1s a 499ms b', { a: 21.5, b: 22 });
      expectObservable(mustExist$.pipe(map(String))).toBe('#', undefined, { name: 'CoapResponseError', code: 'COAP_ERR_RESPONSE', message: 'the server answered 4.04 Not Found: no such thing' });
      expectObservable(pdus$.pipe(map((pdu) => pdu.code))).toBe('-a|', { a: ResponseCode.Content });
      expectObservable(pings$.pipe(take(2), map((frame) => Array.from(frame)), toArray())).toBe('2s (a|)', { a: [[0x40, 0, 0, 0], [0x40, 0, 0, 1]] });
    });
    expect(progress).toEqual(['32 of ? bytes', '64 of ? bytes', '96 of ? bytes', '100 of ? bytes']);
  });

  it('freshNotifications: one resource over two paths, each notification once, in order', () => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    // Both paths reach the same server: the same Observe numbers, the second path 10 ms later.
    const sensor = (latency: number) => (request: CoapPdu) =>
      request.type === MessageType.CON && decodeUint(getOption(request, OptionNumber.Observe) ?? Uint8Array.of(1)) === 0
        ? [{ delay: latency, reply: piggybackedResponse(request, { observe: 1 }) }, notification(request, 2, { delay: 100 + latency }), notification(request, 3, { delay: 200 + latency })]
        : undefined;
    const a = createFakeTransport({ scheduler, respond: sensor(0) });
    const b = createFakeTransport({ scheduler, respond: sensor(10) });
    scheduler.run(({ expectObservable }) => {
      const ctx = new CoapContext(scheduler.contextOptions());
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: a.factory });
      const viaProxy = ctx.newClientSession({ server: 'coap://127.0.0.2', transport: b.factory });
      const once$ = merge(session.observe('/sensors/temperature'), viaProxy.observe('/sensors/temperature')).pipe(freshNotifications({ scheduler }));
      expectObservable(once$.pipe(map((r) => r.observe)), '^ 300ms !').toBe('a 99ms b 99ms c', { a: 1, b: 2, c: 3 });
    });
  });
});

describe('README: Testing your code', () => {
  it('retransmits at 2, 6, 14 and 30 s and gives up at 62 s', () => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    const fake = createFakeTransport({ scheduler });
    scheduler.run(({ expectObservable }) => {
      const session = new CoapContext(scheduler.contextOptions()).newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      expectObservable(sentFrames(fake)).toBe('a 1999ms a 3999ms a 7999ms a 15999ms a', { a: 'CON GET [01] /x' });
      expectObservable(session.get('/x')).toBe('62s #', undefined, new CoapTimeoutError('no acknowledgement after 5 transmissions'));
    });
  });
});
