import { map } from 'rxjs';
import { CoapArgumentError, CoapEncodeError } from '../../src/errors';
import { tokenToHex, createPdu, MessageType, Method, SignalCode } from '../../src/codec/pdu';
import { encodeString } from '../../src/codec/option-values';
import { decodeFrames } from '../../src/operators/decode-frames';
import { encodeFrames } from '../../src/operators/encode-frames';
import { createCoapTestScheduler, describePdu } from '../../src/testing/marbles';
import type { Framing } from '../../src/transport/transport';

const scheduler = () => createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
const get = createPdu({ type: MessageType.NON, code: Method.GET, messageId: 0xbeef, token: Uint8Array.of(0x0a), options: [{ number: 11, value: encodeString('temp') }] });
const ping = createPdu({ code: SignalCode.Ping, token: Uint8Array.of(2) });

describe('encodeFrames', () => {
  it("'datagram': RFC 7252 §3 bytes, message type and ID included", () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|', { a: get }).pipe(encodeFrames('datagram'), map(tokenToHex))).toBe('-a|', { a: '51 01 be ef 0a b4 74 65 6d 70'.replace(/ /g, '') });
    });
  });

  it("'stream': RFC 8323 §3.2 frames, Len counting options and payload", () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|', { a: get }).pipe(encodeFrames('stream'), map(tokenToHex))).toBe('-a|', { a: '51 01 0a b4 74 65 6d 70'.replace(/ /g, '') });
    });
  });

  it("'websocket': RFC 8323 §4.2 messages, Len always 0", () => {
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a|', { a: get }).pipe(encodeFrames('websocket'), map(tokenToHex))).toBe('-a|', { a: '01 01 0a b4 74 65 6d 70'.replace(/ /g, '') });
    });
  });

  it.each<Framing>(['datagram', 'stream', 'websocket'])("round-trips through decodeFrames('%s')", (framing) => {
    const pdu = framing === 'datagram' ? get : ping;
    scheduler().run(({ cold, expectObservable }) => {
      expectObservable(cold('-a-a|', { a: pdu }).pipe(encodeFrames(framing), decodeFrames(framing), map((out) => describePdu(out)))).toBe('-a-a|', { a: describePdu(pdu) });
    });
  });

  it('errors with CoapEncodeError for a PDU that cannot be encoded (a 9-byte token)', () => {
    scheduler().run(({ cold, expectObservable }) => {
      const bad = { ...ping, token: new Uint8Array(9) };
      expectObservable(cold('-a', { a: bad }).pipe(encodeFrames('stream'))).toBe('-#', undefined, new CoapEncodeError('a token of 9 bytes cannot be encoded (9..12 are reserved)'));
    });
  });

  it('throws CoapArgumentError at the call for an unknown framing', () => {
    expect(() => encodeFrames('udp' as Framing)).toThrow(CoapArgumentError);
  });
});
