/**
 * CoAP over a MessagePort: a page talks to a CoAP stack in a (Web) Worker, or to a device that a worker reaches
 * (WebUSB, WebSerial, a WebRTC data channel). Each message is one CoAP datagram (`framing: 'datagram'`): the
 * session runs the message layer as over UDP, so the worker side is any RFC 7252 server, and a lost message would be
 * retransmitted. (A worker that speaks RFC 8323 messages could use `framing: 'websocket'` and `reliable: true`.)
 *
 * `messagePortTransport` needs only `postMessage` and `addEventListener('message')`, so the same code runs on a
 * browser `MessagePort` (the page's end of a `MessageChannel` handed to `new Worker(...)`) and on Node's
 * `worker_threads` ports. This runnable version starts a worker thread with Node's `Worker` and `MessageChannel`;
 * the worker answers GET /hello and sends notifications for /ticks, built from rxcoap's codec.
 *
 * Run: `node dist/examples/worker-transport.js` (prints the worker's answers and exits 0).
 */
import { MessageChannel, Worker, isMainThread, workerData } from 'node:worker_threads';
import { firstValueFrom, map, Observable, Subject, take, toArray } from 'rxjs';
import {
  CoapContext,
  createPdu,
  decodeDatagram,
  decodeString,
  decodeUint,
  encodeDatagram,
  encodeUint,
  getOption,
  getOptions,
  MessageType,
  Method,
  OptionNumber,
  ResponseCode,
  textPayload,
  type CoapPdu,
  type Transport,
  type TransportFactory,
  useDatagramStack,
} from '../src/index';

/** What the transport needs of a port: a browser `MessagePort`, a `Worker`, or Node's `worker_threads` port. */
export interface MessagePortLike {
  postMessage(message: Uint8Array): void;
  addEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  removeEventListener(type: 'message', listener: (event: { readonly data: unknown }) => void): void;
  /** Browser ports queue messages until started (or until `onmessage` is set). */
  start?(): void;
}

/**
 * A datagram transport over a message port: one `Uint8Array` per message each way. Subscribing starts listening;
 * unsubscribing stops (the port stays open: whoever made the channel closes it). Messages that are not bytes are
 * ignored, as a UDP socket ignores what is not CoAP.
 */
export function messagePortTransport(port: MessagePortLike, name = 'worker'): TransportFactory {
  // Datagrams run on the message layer, which the core (`rxcoap`) leaves out of browser bundles until asked.
  useDatagramStack();
  return () =>
    new Observable<Transport>((subscriber) => {
      const frames = new Subject<Uint8Array>();
      const events = new Subject<never>();
      const listener = (event: { readonly data: unknown }) => {
        if (event.data instanceof Uint8Array) frames.next(event.data);
      };
      port.addEventListener('message', listener);
      port.start?.();
      let open = true;
      subscriber.next({
        frames$: frames.asObservable(),
        send: (frame) => {
          if (open) port.postMessage(frame); // copied (structured clone): the layers above may reuse the buffer
        },
        events$: events.asObservable(),
        maxFrameOverhead: 0,
        reliable: false,
        framing: 'datagram',
        local: { path: 'page' },
        remote: { path: name },
      });
      return () => {
        open = false;
        port.removeEventListener('message', listener);
        frames.complete();
        events.complete();
      };
    });
}

/** The worker's CoAP side: piggybacked answers to GET /hello, and three NON notifications 50 ms apart for /ticks. */
export function serveInWorker(port: MessagePortLike): void {
  let messageId = 0x100;
  const send = (pdu: CoapPdu) => port.postMessage(encodeDatagram(pdu));
  port.addEventListener('message', (event) => {
    if (!(event.data instanceof Uint8Array)) return;
    let request: CoapPdu;
    try {
      request = decodeDatagram(event.data);
    } catch {
      return; // not CoAP
    }
    if (request.type !== MessageType.CON || request.code !== Method.GET) return;
    const path = getOptions(request, OptionNumber.UriPath).map(decodeString).join('/');
    const observe = getOption(request, OptionNumber.Observe);
    const response = (type: CoapPdu['type'], id: number, text: string, sequence?: number) =>
      createPdu({
        type,
        code: ResponseCode.Content,
        messageId: id,
        token: request.token,
        options: sequence === undefined ? [] : [{ number: OptionNumber.Observe, value: encodeUint(sequence) }],
        payload: textPayload(text),
      });
    if (path === 'hello') return send(response(MessageType.ACK, request.messageId, 'hello from the worker'));
    if (path === 'ticks' && observe !== undefined && decodeUint(observe) === 0) {
      send(response(MessageType.ACK, request.messageId, 'tick 0', 0));
      for (let tick = 1; tick <= 3; tick++) setTimeout(() => send(response(MessageType.NON, messageId++, `tick ${tick}`, tick)), tick * 50);
      return;
    }
    send(createPdu({ type: MessageType.ACK, code: ResponseCode.NotFound, messageId: request.messageId, token: request.token }));
  });
}

async function main(): Promise<void> {
  // The page makes a channel and hands one end to the worker (in a browser: worker.postMessage(port2, [port2])).
  const channel = new MessageChannel();
  const worker = new Worker(__filename, { workerData: { port: channel.port2 }, transferList: [channel.port2] });
  const ctx = new CoapContext();
  // @types/node types a port's listener as taking a plain Event; at run time it gets a MessageEvent with `data`.
  const port = channel.port1 as unknown as MessagePortLike;
  const session = ctx.newClientSession({ server: 'coap://worker', transport: messagePortTransport(port) });

  const hello = await firstValueFrom(session.get('/hello'));
  console.log(`GET /hello: ${hello.codeName}: ${hello.text()}`);
  const ticks = await firstValueFrom(session.observe('/ticks', { deregister: false }).pipe(take(4), map((r) => r.text()), toArray()));
  console.log(`observe /ticks: ${ticks.join(', ')}`);
  await ctx.free();
  channel.port1.close();
  await worker.terminate();
}

if (isMainThread && require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
} else if (!isMainThread && (workerData as { port?: unknown } | null)?.port !== undefined) {
  serveInWorker((workerData as { port: MessagePortLike }).port);
}
