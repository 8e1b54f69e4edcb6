/**
 * CoAP over a Node Duplex stream: a custom transport for a serial port (or any byte pipe: a USB CDC device, an SSH
 * channel, a child process's stdio). The link is a byte stream, so the frames are RFC 8323 §3.2 frames (`framing:
 * 'stream'`): the session exchanges CSMs and needs no retransmission, as over TCP.
 *
 * With the `serialport` package, `serialTransport(() => new SerialPort({ path: '/dev/ttyUSB0', baudRate: 115200 }))`
 * is the whole integration. Here a pair of PassThrough streams stands in for the wire, and the device at its far
 * end is a few lines of rxcoap/operators (`decodeFrames('stream')` / `encodeFrames('stream')`).
 *
 * Run: `node dist/examples/serial-transport.js` (prints the device's answers and exits 0).
 */
import { Duplex, PassThrough } from 'node:stream';
import { firstValueFrom, fromEvent, map, mergeMap, Observable, Subject, take, takeUntil, toArray } from 'rxjs';
import { CoapContext, CoapTransportError, createPdu, decodeString, decodeUint, encodeUint, getOption, getOptions, Method, OptionNumber, ResponseCode, SignalCode, SignalOption, textPayload, useStreamFraming, type CoapPdu, type Transport, type TransportFactory } from '../src/index';
import { decodeFrames, encodeFrames } from '../src/operators';

/** Options of {@link serialTransport}. */
export interface SerialTransportOptions {
  /** A name for the far end, used as the transport's `remote` (e.g. the device path). @defaultValue 'serial' */
  readonly name?: string;
}

/**
 * A transport factory over a Duplex stream that `open` creates per connection (subscribe opens, unsubscribe
 * destroys it). Bytes are CoAP in RFC 8323 §3.2 framing; the stream ending or failing errors the transport with
 * `CoapTransportError`, which fails the session's work (or reconnects, with the `reconnect` option).
 */
export function serialTransport(open: () => Duplex, options: SerialTransportOptions = {}): TransportFactory {
  // RFC 8323 stream framing, which the core (`rxcoap`) leaves out of browser bundles until asked.
  useStreamFraming();
  const name = options.name ?? 'serial';
  return () =>
    new Observable<Transport>((subscriber) => {
      const stream = open();
      const frames = new Subject<Uint8Array>();
      const events = new Subject<never>();
      const lost = (reason: string, cause?: unknown) => subscriber.error(new CoapTransportError(`the ${name} link ${reason}`, { reason: cause === undefined ? 'closed-by-peer' : 'error', cause }));
      stream.on('data', (chunk: Buffer) => frames.next(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
      stream.once('error', (error) => lost('failed', error));
      stream.once('end', () => lost('was closed by the device'));
      subscriber.next({
        frames$: frames.asObservable(),
        // Never throws (the contract): a write after destroy is dropped, a failing stream reports through 'error'.
        send: (frame) => void (stream.destroyed || stream.write(frame)),
        events$: events.asObservable(),
        maxFrameOverhead: 0,
        reliable: true,
        framing: 'stream',
        local: { path: `${name}:host` },
        remote: { path: name },
      });
      return () => {
        frames.complete();
        events.complete();
        stream.removeAllListeners();
        stream.on('error', () => undefined); // destroying may report an AbortError: the link is ours to close
        stream.destroy();
      };
    });
}

/** Two ends of a byte pipe: what the host writes, the device reads, and back. */
export function wirePair(): { host: Duplex; device: Duplex } {
  const toDevice = new PassThrough();
  const toHost = new PassThrough();
  return { host: Duplex.from({ readable: toHost, writable: toDevice }), device: Duplex.from({ readable: toDevice, writable: toHost }) };
}

/**
 * The device: RFC 8323 on a byte stream, written with the operators. Sends its CSM, answers GET /hello, and
 * answers GET /counter with Observe by the count and three notifications, 50 ms apart.
 */
export function startDevice(wire: Duplex): void {
  wire.on('error', () => undefined); // the host hanging up is the end of the conversation, not a failure
  const send = (pdu: CoapPdu) =>
    new Observable<CoapPdu>((s) => {
      s.next(pdu);
      s.complete();
    })
      .pipe(encodeFrames('stream'))
      .subscribe((frame) => wire.write(frame));
  send(createPdu({ code: SignalCode.CSM, options: [{ number: SignalOption.MaxMessageSize, value: encodeUint(1152) }] }));
  fromEvent(wire, 'data', (chunk: Buffer) => new Uint8Array(chunk))
    .pipe(
      takeUntil(fromEvent(wire, 'close')),
      decodeFrames('stream'),
      mergeMap((request) => answer(request)),
    )
    .subscribe({ next: send, error: () => wire.destroy() });
}

function answer(request: CoapPdu): Observable<CoapPdu> {
  return new Observable<CoapPdu>((subscriber) => {
    if (request.code === SignalCode.Ping) subscriber.next(createPdu({ code: SignalCode.Pong, token: request.token }));
    if (request.code !== Method.GET) return subscriber.complete();
    const path = getOptions(request, OptionNumber.UriPath).map(decodeString).join('/');
    const reply = (text: string, observe?: number) =>
      subscriber.next(
        createPdu({ code: ResponseCode.Content, token: request.token, options: observe === undefined ? [] : [{ number: OptionNumber.Observe, value: encodeUint(observe) }], payload: textPayload(text) }),
      );
    if (path === 'hello') {
      reply('hello over the serial line');
      return subscriber.complete();
    }
    const observe = getOption(request, OptionNumber.Observe);
    if (path !== 'counter' || observe === undefined || decodeUint(observe) !== 0) {
      subscriber.next(createPdu({ code: ResponseCode.NotFound, token: request.token }));
      return subscriber.complete();
    }
    let count = 0;
    reply(`count ${count}`, count);
    const timer = setInterval(() => {
      count++;
      reply(`count ${count}`, count);
      if (count === 3) {
        clearInterval(timer);
        subscriber.complete();
      }
    }, 50);
    return () => clearInterval(timer);
  });
}

async function main(): Promise<void> {
  const wire = wirePair();
  startDevice(wire.device);
  const ctx = new CoapContext();
  // The server URI names the device; the transport decides how to reach it. One connection per session.
  const session = ctx.newClientSession({ server: 'coap+tcp://sensor', transport: serialTransport(() => wire.host, { name: '/dev/ttyUSB0' }) });

  const hello = await firstValueFrom(session.get('/hello'));
  console.log(`GET /hello: ${hello.codeName}: ${hello.text()}`);
  const counts = await firstValueFrom(session.observe('/counter').pipe(take(4), map((r) => r.text()), toArray()));
  console.log(`observe /counter: ${counts.join(', ')}`);
  await ctx.free();
  wire.device.destroy();
}

if (require.main === module) {
  main().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exitCode = 1;
  });
}
