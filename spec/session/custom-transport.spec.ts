/**
 * Custom transports (`ctx.newClientSession({ server, transport })`): a transport written against the public contract
 * alone, here an in-memory link to a device whose CoAP side is built from rxcoap/operators, in each framing.
 */
import { Observable, Subject, map, mergeMap, type Subscription } from 'rxjs';
import { SignalOption } from '../../src/codec/option-numbers';
import { encodeUint } from '../../src/codec/option-values';
import { createPdu, Method, ResponseCode, SignalCode, type CoapPdu } from '../../src/codec/pdu';
import { textPayload } from '../../src/codec/payload';
import { CoapContext } from '../../src/context';
import { decodeFrames } from '../../src/operators/decode-frames';
import { encodeFrames } from '../../src/operators/encode-frames';
import { piggybackedResponse } from '../../src/testing/fake-replies';
import { createCoapTestScheduler, describePdu } from '../../src/testing/marbles';
import type { Framing, Transport, TransportFactory } from '../../src/transport/transport';
import { useDatagramStack } from '../../src/session/use-datagram-stack';
import { useStreamFraming } from '../../src/session/use-stream-framing';

// As a browser app with transports of its own does: the core leaves the message layer and the stream framing out
// until asked.
useDatagramStack();
useStreamFraming();

/** The device: answers GET /hello; on reliable framings sends its CSM first and answers Ping with Pong. */
function device(pdu: CoapPdu, reliable: boolean): CoapPdu[] {
  if (pdu.code === SignalCode.CSM) return [];
  if (pdu.code === SignalCode.Ping) return [createPdu({ code: SignalCode.Pong, token: pdu.token })];
  if (pdu.code !== Method.GET) return [];
  return [reliable ? createPdu({ code: ResponseCode.Content, token: pdu.token, payload: textPayload('hello') }) : piggybackedResponse(pdu, { payload: 'hello' })];
}

/** A transport over an in-memory link, with `latency` ms each way on the scheduler. */
function linkTransport(framing: Framing, scheduler: import('rxjs').SchedulerLike, seen: string[], latency = 5): TransportFactory {
  const reliable = framing !== 'datagram';
  return () =>
    new Observable<Transport>((subscriber) => {
      const toClient = new Subject<Uint8Array>();
      const toDevice = new Subject<Uint8Array>();
      const answers: Subscription = toDevice
        .pipe(
          decodeFrames(framing),
          mergeMap((pdu) => {
            seen.push(describePdu(pdu));
            return device(pdu, reliable);
          }),
          encodeFrames(framing),
        )
        .subscribe({ next: (frame) => subscriber.add(scheduler.schedule(() => toClient.next(frame), latency)), error: (error) => subscriber.error(error) });
      subscriber.add(answers);
      if (reliable) {
        const csm = createPdu({ code: SignalCode.CSM, options: [{ number: SignalOption.MaxMessageSize, value: encodeUint(1152) }] });
        subscriber.add(scheduler.schedule(() => toClient.next(framing === 'stream' ? encodeFramesOnce('stream', csm) : encodeFramesOnce('websocket', csm)), latency));
      }
      subscriber.next({
        frames$: toClient.asObservable(),
        send: (frame) => void subscriber.add(scheduler.schedule(() => toDevice.next(frame), latency)),
        events$: new Subject<never>(),
        maxFrameOverhead: 0,
        reliable,
        framing,
        local: { path: 'link:client' },
        remote: { path: 'link:device' },
      });
      return () => {
        toClient.complete();
        toDevice.complete();
      };
    });
}

function encodeFramesOnce(framing: 'stream' | 'websocket', pdu: CoapPdu): Uint8Array {
  let out: Uint8Array | undefined;
  new Observable<CoapPdu>((s) => s.next(pdu)).pipe(encodeFrames(framing)).subscribe((frame) => (out = frame));
  return out!;
}

describe('a custom transport given to newClientSession', () => {
  it.each([
    ['datagram', 'coap://device', '10ms (a|)', ['CON GET /hello']],
    ['stream', 'coap+tcp://device', '15ms (a|)', ['CON 7.01 CSM Max-Message-Size=65536 Block-Wise-Transfer', 'CON GET /hello']],
    ['websocket', 'coap+ws://device', '15ms (a|)', ['CON 7.01 CSM Max-Message-Size=65536 Block-Wise-Transfer', 'CON GET /hello']],
  ] as const)("carries a GET in the '%s' framing (%s)", (framing, server, marble, frames) => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    const seen: string[] = [];
    scheduler.run(({ expectObservable }) => {
      const ctx = new CoapContext(scheduler.contextOptions({ tokenLength: 0, tokenGenerator: () => new Uint8Array(0) }));
      const session = ctx.newClientSession({ server, transport: linkTransport(framing, scheduler, seen) });
      expectObservable(session.get('/hello').pipe(map((r) => `${r.codeText} ${r.text()}`))).toBe(marble, { a: '2.05 hello' });
    });
    expect(seen.map((line) => line.replace(/ Uri-Host=\S+/, ''))).toEqual(frames);
  });

  it('uses the stack the transport names, whatever the URI scheme says (a reliable link behind coap://)', () => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    const seen: string[] = [];
    scheduler.run(({ expectObservable }) => {
      const ctx = new CoapContext(scheduler.contextOptions({ tokenGenerator: () => new Uint8Array(0) }));
      const session = ctx.newClientSession({ server: 'coap://device', transport: linkTransport('stream', scheduler, seen) });
      expectObservable(session.get('/hello').pipe(map((r) => r.text()))).toBe('15ms (a|)', { a: 'hello' });
    });
    expect(seen[0]).toMatch(/^CON 7\.01 CSM/);
    expect(seen.filter((line) => line.startsWith('CON GET'))).toHaveLength(1);
  });
});
