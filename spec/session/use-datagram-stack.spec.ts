/**
 * The datagram stack is installed, not imported by the core (issue 18: a ws-only browser app does not bundle the
 * message layer): `useDatagramStack()` installs it, `rxcoap/node` and `createFakeTransport` call it; without it a
 * session over a datagram transport fails its requests with a CoapArgumentError that says what to call, and
 * closes the transport again. Each case loads the modules afresh (jest.isolateModules), so what one case installs
 * is not seen by the next.
 */
import { asyncScheduler, Observable, Subject } from 'rxjs';
import { CoapArgumentError } from '../../src/errors';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { MessageType, ResponseCode, createPdu } from '../../src/codec/pdu';
import { textPayload } from '../../src/codec/payload';
import type { Transport, TransportFactory } from '../../src/transport/transport';
import { getHello, isolated, isolatedContext } from '../helpers/isolated-modules';

/** A datagram link to a device that answers every CON with a piggybacked 2.05 "hello"; counts opens and closes. */
function datagramLink(): { factory: TransportFactory; opened: number; closed: number } {
  const link = { factory: undefined as unknown as TransportFactory, opened: 0, closed: 0 };
  link.factory = () =>
    new Observable<Transport>((subscriber) => {
      link.opened++;
      const frames = new Subject<Uint8Array>();
      subscriber.next({
        frames$: frames.asObservable(),
        events$: new Subject<never>().asObservable(),
        send(frame) {
          const request = decodeDatagram(frame);
          const reply = createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: request.messageId, token: request.token, payload: textPayload('hello') });
          queueMicrotask(() => frames.next(encodeDatagram(reply)));
        },
        maxFrameOverhead: 0,
        reliable: false,
        framing: 'datagram',
        local: { host: '127.0.0.1', port: 40000 },
        remote: { host: '127.0.0.1', port: 5683 },
      });
      return () => {
        link.closed++;
        frames.complete();
      };
    });
  return link;
}

describe('useDatagramStack() and sessions over datagram transports', () => {
  it('without it, the request fails with CoapArgumentError naming useDatagramStack(), and the transport is closed again', async () => {
    const link = datagramLink();
    const error = await getHello(isolatedContext(), 'coap://device', link.factory).then(
      () => undefined,
      (caught: unknown) => caught,
    );
    expect(error).toBeInstanceOf(CoapArgumentError);
    expect(error).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'transport' });
    expect((error as Error).message).toContain('useDatagramStack()');
    expect(link).toMatchObject({ opened: 1, closed: 1 });
  });

  it('with it, the same session runs on the message layer: CON GET, piggybacked 2.05', async () => {
    const { CoapContext, useDatagramStack } = isolated(() => ({
      CoapContext: (require('../../src/context') as typeof import('../../src/context')).CoapContext,
      useDatagramStack: (require('../../src/session/use-datagram-stack') as typeof import('../../src/session/use-datagram-stack')).useDatagramStack,
    }));
    useDatagramStack();
    useDatagramStack(); // again: nothing changes
    expect(await getHello(CoapContext, 'coap://device', datagramLink().factory)).toBe('2.05 Content hello');
  });

  it('rxcoap/node installs it by itself', async () => {
    const CoapContext = isolatedContext(() => require('../../src/node'));
    expect(await getHello(CoapContext, 'coap://device', datagramLink().factory)).toBe('2.05 Content hello');
  });

  it('createFakeTransport (rxcoap/testing) installs it by itself', async () => {
    const CoapContext = isolatedContext(() => {
      const { createFakeTransport } = require('../../src/testing/fake-transport') as typeof import('../../src/testing/fake-transport');
      createFakeTransport({ scheduler: asyncScheduler });
    });
    expect(await getHello(CoapContext, 'coap://device', datagramLink().factory)).toBe('2.05 Content hello');
  });
});
