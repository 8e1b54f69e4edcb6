/**
 * A user's spec, importing only the package's public entries (`rxcoap`, `rxcoap/operators`, `rxcoap/testing`) and the
 * user's own modules: a session on a custom transport (a radio link with latency, written against the transport
 * contract), and an application rule on top of it marble-tested in virtual time with the rxcoap/testing helpers.
 * Then the transport contract suite of rxcoap/testing, run on this link and on the two example transports
 * (a serial line over a Duplex stream, a MessagePort to a worker).
 */
import { MessageChannel } from 'node:worker_threads';
import { asyncScheduler, delay, distinctUntilChanged, filter, map, mergeMap, Observable, scan, Subject, tap, timer, type SchedulerLike } from 'rxjs';
import { CoapContext, decodeUint, getOption, MessageType, Method, OptionNumber, ResponseCode, encodeDatagram, useDatagramStack, type CoapPdu, type ClientSession, type Transport, type TransportFactory } from 'rxcoap';
import { decodeFrames, reobserveOnError } from 'rxcoap/operators';
import {
  createCoapTestScheduler,
  datagramPingContract,
  describeTransportContract,
  notification,
  pduMatchers,
  piggybackedResponse,
  sentFrames,
  streamPingContract,
  type FakeReply,
  type SentDatagram,
} from 'rxcoap/testing';
import { serialTransport, startDevice, wirePair } from './serial-transport';
import { messagePortTransport, serveInWorker, type MessagePortLike } from './worker-transport';

expect.extend(pduMatchers);

// ---- the application under test -------------------------------------------------------------------------------

/**
 * The rule: frost when the temperature is below 0 °C in two notifications in a row; over when it is back above
 * 1 °C (hysteresis, so that a sensor hovering at 0 °C does not flap). The observation is kept alive with back-off.
 */
function frostAlarm(session: ClientSession, scheduler: SchedulerLike): Observable<boolean> {
  return session.observe('/temp').pipe(
    reobserveOnError({ scheduler, initialDelay: 1000 }),
    map((response) => Number(response.text())),
    scan((state, celsius) => {
      const cold = celsius < 0 ? state.cold + 1 : 0;
      return { cold, frost: state.frost ? celsius <= 1 : cold >= 2 };
    }, { cold: 0, frost: false }),
    map((state) => state.frost),
    distinctUntilChanged(),
  );
}

// ---- the user's custom transport: a datagram radio link with latency on the scheduler ---------------------------

/** The device on the far side of the link: answers each request with replies (delays on the scheduler). */
type Device = (request: CoapPdu) => FakeReply | readonly FakeReply[] | undefined;

interface RadioLink {
  readonly factory: TransportFactory;
  /** What the session sent, as it is sent (for `sentFrames`). */
  readonly sent$: Observable<SentDatagram>;
  readonly sent: SentDatagram[];
}

function radioLink(scheduler: SchedulerLike, device: Device, latency = 20): RadioLink {
  useDatagramStack(); // datagrams: the session runs the message layer, which rxcoap leaves out until asked
  const sent: SentDatagram[] = [];
  const sent$ = new Subject<SentDatagram>();
  const factory: TransportFactory = () =>
    new Observable<Transport>((subscriber) => {
      const air = new Subject<Uint8Array>(); // towards the device
      const frames = new Subject<Uint8Array>(); // from the device
      // The device's side of the air, with the operators: datagrams in, its replies out after the latency both ways.
      subscriber.add(
        air
          .pipe(
            decodeFrames('datagram'),
            tap((pdu) => {
              const record = { time: scheduler.now(), frame: encodeDatagram(pdu), pdu };
              sent.push(record);
              sent$.next(record);
            }),
            filter((pdu) => pdu.type === MessageType.CON || pdu.type === MessageType.NON), // not our ACKs and RSTs
            mergeMap((pdu) => [device(pdu) ?? []].flat()),
            mergeMap((reply) => ('delay' in reply ? timer(reply.delay, scheduler).pipe(map(() => reply.reply)) : [reply])),
            delay(2 * latency, scheduler),
            map((reply) => (reply instanceof Uint8Array ? reply : encodeDatagram(reply))),
          )
          .subscribe(frames),
      );
      subscriber.next({
        frames$: frames.asObservable(),
        send: (frame) => air.next(frame),
        events$: new Subject<never>(),
        maxFrameOverhead: 0,
        reliable: false,
        framing: 'datagram',
        local: { path: 'radio:gateway' },
        remote: { path: 'radio:sensor-7' },
      });
      return () => air.complete();
    });
  return { factory, sent$: sent$.asObservable(), sent };
}

/** A sensor that notifies `values` 1 s apart after each registration; `failAt` ends the observation with 5.03. */
function thermometer(values: readonly number[], failAt?: number): Device {
  let registrations = 0;
  return (request) => {
    if (request.code !== Method.GET) return undefined;
    const observe = getOption(request, OptionNumber.Observe);
    if (observe === undefined || decodeUint(observe) !== 0) return piggybackedResponse(request, { payload: String(values.at(-1)) });
    const first = registrations++ === 0;
    const script = first ? values.slice(0, failAt ?? values.length) : values.slice(failAt);
    const replies: FakeReply[] = [piggybackedResponse(request, { observe: 1, payload: String(script[0]) })];
    for (let i = 1; i < script.length; i++) replies.push(notification(request, i + 1, { delay: i * 1000, payload: String(script[i]) }));
    if (first && failAt !== undefined) replies.push(notification(request, undefined, { delay: script.length * 1000, code: ResponseCode.ServiceUnavailable }));
    return replies;
  };
}

// ---- marble tests of the rule -----------------------------------------------------------------------------------

describe('frostAlarm over a radio link, in virtual time', () => {
  it('raises the alarm on the second reading below 0 °C and clears it above 1 °C', () => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    const link = radioLink(scheduler, thermometer([2, -1, -2, 0.5, 1.5]));
    scheduler.run(({ expectObservable }) => {
      const ctx = new CoapContext(scheduler.contextOptions());
      const session = ctx.newClientSession({ server: 'coap://sensor-7', transport: link.factory });
      // One registration; readings arrive at 40 ms (the round trip) and then every second.
      expectObservable(sentFrames(link), '^ 5s !').toBe('a', { a: 'CON GET [01] /temp Uri-Host=sensor-7 Observe=0' });
      expectObservable(frostAlarm(session, scheduler), '^ 5s !').toBe('40ms f 1999ms t 1999ms f', { f: false, t: true });
    });
    expect(link.sent[0].pdu).toMatchPdu({ type: 'CON', code: 'GET', token: '01', path: '/temp', observe: 0 });
  });

  it('keeps watching through a 5.03 that ends the observation: it registers again 1 s later', () => {
    const scheduler = createCoapTestScheduler((actual, expected) => expect(actual).toEqual(expected));
    // Readings 2, -1 then 5.03 (at 2.04 s); re-registered at 3.04 s: -2 (3.08 s), then 3 at 4.08 s.
    const link = radioLink(scheduler, thermometer([2, -1, -2, 3], 2));
    scheduler.run(({ expectObservable }) => {
      const ctx = new CoapContext(scheduler.contextOptions());
      const session = ctx.newClientSession({ server: 'coap://sensor-7', transport: link.factory });
      expectObservable(sentFrames(link).pipe(filter((frame) => frame.startsWith('CON GET'))), '^ 6s !').toBe('a 3039ms b', {
        a: 'CON GET [01] /temp Uri-Host=sensor-7 Observe=0',
        b: 'CON GET [02] /temp Uri-Host=sensor-7 Observe=0',
      });
      expectObservable(frostAlarm(session, scheduler), '^ 6s !').toBe('40ms f 3039ms t 999ms f', { f: false, t: true });
    });
    // Two registrations, and the deregistration (Observe 1) when the marble unsubscribes after 6 s.
    const gets = link.sent.filter((s) => s.pdu?.code === Method.GET);
    expect(gets.map((s) => [s.time, decodeUint(getOption(s.pdu!, OptionNumber.Observe)!)])).toEqual([[0, 0], [3040, 0], [6001, 1]]);
    expect(gets[1].frame).toMatchPdu({ type: 'CON', token: '02', path: '/temp', options: { [OptionNumber.UriHost]: 'sensor-7' } });
  });
});

// ---- the transport contract, on this link and on the example transports ----------------------------------------

const test = { describe, it, beforeEach, afterEach, expect };

describeTransportContract(
  'radio link (virtual device, real time)',
  () => ({ ...datagramPingContract, factory: radioLink(asyncScheduler, (request) => piggybackedResponse(request, { code: ResponseCode.NotFound }), 1).factory }),
  test,
);

describeTransportContract(
  'serial line (examples/serial-transport.ts over a Duplex pair)',
  () => ({
    ...streamPingContract,
    factory: serialTransport(() => {
      const wire = wirePair();
      startDevice(wire.device);
      return wire.host;
    }),
  }),
  test,
);

let channel: MessageChannel | undefined;
describeTransportContract(
  'MessagePort (examples/worker-transport.ts, the worker side in-process)',
  () => {
    channel = new MessageChannel();
    serveInWorker(channel.port2 as unknown as MessagePortLike);
    return { ...datagramPingContract, factory: messagePortTransport(channel.port1 as unknown as MessagePortLike) };
  },
  test,
  () => {
    channel?.port1.close();
    channel?.port2.close();
  },
);
