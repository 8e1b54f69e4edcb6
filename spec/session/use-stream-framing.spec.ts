/**
 * Byte-stream framing (RFC 8323 §3.2) is installed, not imported by the core (issue 18: a ws-only browser app does
 * not bundle the stream deframer): `useStreamFraming()` installs it, `rxcoap/node` calls it; without it a session
 * over a byte-stream transport fails its requests with a CoapArgumentError that says what to call, having sent
 * nothing, and closes the transport again. WebSocket framing needs nothing. Each case loads the modules afresh
 * (jest.isolateModules), so what one case installs is not seen by the next.
 */
import { Observable, Subject } from 'rxjs';
import { CoapArgumentError } from '../../src/errors';
import { createPdu, Method, ResponseCode, SignalCode, type CoapPdu } from '../../src/codec/pdu';
import { textPayload } from '../../src/codec/payload';
import { encodeStreamFrame, StreamDeframer } from '../../src/codec/stream-codec';
import { decodeWsMessage, encodeWsMessage } from '../../src/codec/ws-codec';
import type { Framing, Transport, TransportFactory } from '../../src/transport/transport';
import { getHello, isolated, isolatedContext } from '../helpers/isolated-modules';

/** A reliable link to a device: CSM for CSM, 2.05 "hello" for a GET; counts opens, closes and frames sent. */
function reliableLink(framing: 'stream' | 'websocket'): { factory: TransportFactory; opened: number; closed: number; sent: number } {
  const link = { factory: undefined as unknown as TransportFactory, opened: 0, closed: 0, sent: 0 };
  const encode = (pdu: CoapPdu): Uint8Array => (framing === 'stream' ? encodeStreamFrame(pdu) : encodeWsMessage(pdu));
  link.factory = () =>
    new Observable<Transport>((subscriber) => {
      link.opened++;
      const frames = new Subject<Uint8Array>();
      const deframer = new StreamDeframer({ maxMessageSize: 65536 });
      subscriber.next({
        frames$: frames.asObservable(),
        events$: new Subject<never>().asObservable(),
        send(frame) {
          link.sent++;
          for (const pdu of framing === 'stream' ? deframer.push(frame) : [decodeWsMessage(frame)]) {
            const reply =
              pdu.code === SignalCode.CSM
                ? createPdu({ code: SignalCode.CSM })
                : pdu.code === Method.GET
                  ? createPdu({ code: ResponseCode.Content, token: pdu.token, payload: textPayload('hello') })
                  : undefined;
            if (reply !== undefined) queueMicrotask(() => frames.next(encode(reply)));
          }
        },
        maxFrameOverhead: 0,
        reliable: true,
        framing: framing as Framing,
        local: { path: 'link:client' },
        remote: { path: 'link:device' },
      });
      return () => {
        link.closed++;
        frames.complete();
      };
    });
  return link;
}

describe('useStreamFraming() and sessions over byte-stream transports', () => {
  it('without it, the request fails with CoapArgumentError naming useStreamFraming(), nothing is sent, the transport is closed', async () => {
    const link = reliableLink('stream');
    const error = await getHello(isolatedContext(), 'coap+tcp://device', link.factory).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CoapArgumentError);
    expect(error).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'transport' });
    expect((error as Error).message).toContain('useStreamFraming()');
    expect(link).toMatchObject({ opened: 1, closed: 1, sent: 0 });
  });

  it('with it, the same session runs: CSM, then GET, 2.05', async () => {
    const { CoapContext, useStreamFraming } = isolated(() => ({
      CoapContext: (require('../../src/context') as typeof import('../../src/context')).CoapContext,
      useStreamFraming: (require('../../src/session/use-stream-framing') as typeof import('../../src/session/use-stream-framing')).useStreamFraming,
    }));
    useStreamFraming();
    expect(await getHello(CoapContext, 'coap+tcp://device', reliableLink('stream').factory)).toBe('2.05 Content hello');
  });

  it('rxcoap/node installs it by itself', async () => {
    expect(await getHello(isolatedContext(() => require('../../src/node')), 'coap+tcp://device', reliableLink('stream').factory)).toBe('2.05 Content hello');
  });

  it('WebSocket framing needs nothing installed', async () => {
    expect(await getHello(isolatedContext(), 'coap+ws://device', reliableLink('websocket').factory)).toBe('2.05 Content hello');
  });
});
