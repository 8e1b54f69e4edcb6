import { map } from 'rxjs';
import { CoapArgumentError, CoapDecodeError } from '../../src/errors';
import { createPdu, MessageType, Method, ResponseCode, SignalCode } from '../../src/codec/pdu';
import { encodeStreamFrame } from '../../src/codec/stream-codec';
import { encodeDatagram } from '../../src/codec/udp-codec';
import { encodeWsMessage } from '../../src/codec/ws-codec';
import { encodeString } from '../../src/codec/option-values';
import { decodeFrames } from '../../src/operators/decode-frames';
import { createCoapTestScheduler, describePdu } from '../../src/testing/marbles';
import type { Framing } from '../../src/transport/transport';

const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
const get = createPdu({ type: MessageType.CON, code: Method.GET, messageId: 0x1234, token: Uint8Array.of(1), options: [{ number: 11, value: encodeString('temp') }] });
const content = createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: 0x1234, token: Uint8Array.of(1), payload: encodeString('21.5') });
const describe$ = (framing: Framing, options = {}) => (source: import('rxjs').Observable<Uint8Array>) => source.pipe(decodeFrames(framing, options), map((pdu) => describePdu(pdu)));

describe('decodeFrames', () => {
  it("'datagram': decodes one message per frame and drops a frame that is not CoAP, telling onDecodeError", () => {
    const dropped: string[] = [];
    scheduler().run(({ hot, expectObservable }) => {
      const frames = hot('-a-x-b|', { a: encodeDatagram(get), x: Uint8Array.of(0x40), b: encodeDatagram(content) });
      expectObservable(frames.pipe(describe$('datagram', { onDecodeError: (error: CoapDecodeError) => dropped.push(error.reason) }))).toBe('-a---b|', {
        a: 'CON GET [01] /temp',
        b: 'ACK 2.05 Content [01] (4 bytes)',
      });
    });
    expect(dropped).toEqual(['TRUNCATED_HEADER']);
  });

  it("'datagram': a throwing onDecodeError errors the Observable instead of escaping", () => {
    scheduler().run(({ hot, expectObservable }) => {
      const frames = hot('-x-a', { x: Uint8Array.of(0x40), a: encodeDatagram(get) });
      const boom = new Error('boom');
      expectObservable(frames.pipe(decodeFrames('datagram', { onDecodeError: () => { throw boom; } }))).toBe('-#', undefined, boom);
    });
  });

  it("'stream': joins chunks cut anywhere (RFC 8323 §3.2), one deframer per subscription", () => {
    const ping = encodeStreamFrame(createPdu({ code: SignalCode.Ping, token: Uint8Array.of(7) }));
    const response = encodeStreamFrame(content);
    const both = new Uint8Array([...ping, ...response]);
    scheduler().run(({ hot, expectObservable }) => {
      // The ping and the response in one chunk, then the response cut in two.
      const frames = hot('-a--b-c|', { a: both, b: response.subarray(0, 3), c: response.subarray(3) });
      expectObservable(frames.pipe(describe$('stream'))).toBe('-(pr)-r|', { p: 'CON 7.02 Ping [07]', r: 'CON 2.05 Content [01] (4 bytes)' });
    });
  });

  it("'stream': a malformed stream errors with the fatal CoapDecodeError (RFC 8323 §5.6)", () => {
    scheduler().run(({ hot, expectObservable }) => {
      const frames = hot('-a', { a: Uint8Array.of(0x0f, 0x01) }); // TKL 15 is reserved
      expectObservable(frames.pipe(decodeFrames('stream'))).toBe('-#', undefined, new CoapDecodeError('RESERVED_TOKEN_LENGTH', 'token length 15 is reserved', { fatal: true }));
    });
  });

  it("'stream': a frame longer than maxMessageSize fails on its header, before the body comes", () => {
    const big = encodeStreamFrame({ code: ResponseCode.Content, token: Uint8Array.of(1), options: [], payload: new Uint8Array(300) });
    scheduler().run(({ hot, expectObservable }) => {
      const frames = hot('-a', { a: big.subarray(0, 3) });
      expectObservable(frames.pipe(decodeFrames('stream', { maxMessageSize: 256 }))).toBe(
        '-#',
        undefined,
        new CoapDecodeError('MESSAGE_TOO_LARGE', 'frame of at least 306 bytes exceeds the maximum message size 256', { fatal: true }),
      );
    });
  });

  it("'stream': a stream that ends inside a frame errors instead of completing", () => {
    scheduler().run(({ hot, expectObservable }) => {
      const frames = hot('-a|', { a: encodeStreamFrame(content).subarray(0, 4) });
      expectObservable(frames.pipe(decodeFrames('stream'))).toBe('--#', undefined, new CoapDecodeError('BAD_FRAME', 'the stream ended inside a frame', { fatal: true }));
    });
  });

  it("'websocket': one message per frame (RFC 8323 §4.2); a Len other than 0 is fatal", () => {
    scheduler().run(({ hot, expectObservable }) => {
      const frames = hot('-a-b', { a: encodeWsMessage(get), b: encodeStreamFrame(content) });
      expectObservable(frames.pipe(describe$('websocket'))).toBe('-a-#', { a: 'CON GET [01] /temp' }, new CoapDecodeError('BAD_FRAME', 'Len field is 5, must be 0 over WebSockets', { fatal: true }));
    });
  });

  it('throws CoapArgumentError at the call for an unknown framing', () => {
    expect(() => decodeFrames('tcp' as Framing)).toThrow(CoapArgumentError);
    expect(() => decodeFrames('tcp' as Framing)).toThrow("framing must be 'datagram', 'stream' or 'websocket', got 'tcp'");
  });
});
