/**
 * Marble-testing application logic built on rxcoap, in virtual time: the `TemperatureService` example and a
 * small alarm on top of it, against a scripted CoAP server behind the fake transport of `rxcoap/testing`.
 * No socket, no real timer: a 30 s scenario runs in milliseconds and every frame is exact.
 *
 * The pattern: give the context the TestScheduler, give the session `createFakeTransport(...).factory`, and
 * script the server in `respond` (it sees each request the client sends and returns replies with delays).
 */
import { distinctUntilChanged, map, type Observable } from 'rxjs';
import { TestScheduler } from 'rxjs/testing';
import {
  CoapContext,
  ContentFormat,
  MessageType,
  Method,
  OptionNumber,
  ResponseCode,
  cborPayload,
  createPdu,
  decodeUint,
  encodeUint,
  getOption,
  type CoapPdu,
} from 'rxcoap';
import { createFakeTransport, type FakeReply } from 'rxcoap/testing';
import { TemperatureService, type TemperatureReading } from './temperature-service';

/** Application logic under test: true while the temperature is above `limit`, emitted on changes only. */
function overheating(temperature$: Observable<TemperatureReading>, limit: number): Observable<boolean> {
  return temperature$.pipe(
    map((reading) => reading.celsius > limit),
    distinctUntilChanged(),
  );
}

/** SenML+CBOR with one temperature record (RFC 8428 §6 labels: n = 0, u = 1, v = 2). */
function senml(celsius: number): Uint8Array {
  return cborPayload([
    new Map<number, unknown>([
      [0, 'temperature'],
      [1, 'Cel'],
      [2, celsius],
    ]),
  ]);
}

interface ScriptedSensor {
  /** Answers to successive registrations: 'ok' (2.05 and notifications) or a response code. */
  readonly registrations: ReadonlyArray<'ok' | number>;
  /** Values: the first in the registration response, the rest as NON notifications every `interval` ms. */
  readonly values: readonly number[];
  readonly interval: number;
  /** Network latency, in milliseconds. */
  readonly latency: number;
}

/** A CoAP server for `/sensors/temperature` as a `respond` function of the fake transport. */
function sensorServer(script: ScriptedSensor) {
  let registrations = 0;
  let messageId = 0x7000;
  return (request: CoapPdu): FakeReply[] | undefined => {
    if (request.code !== Method.GET) return undefined;
    const observe = getOption(request, OptionNumber.Observe);
    const content = (value: number, sequence: number | undefined, type: number, id: number): CoapPdu =>
      createPdu({
        type: type as CoapPdu['type'],
        code: ResponseCode.Content,
        messageId: id,
        token: request.token,
        options: [
          ...(sequence === undefined ? [] : [{ number: OptionNumber.Observe, value: encodeUint(sequence) }]),
          { number: OptionNumber.ContentFormat, value: encodeUint(ContentFormat.SenmlCbor) },
        ],
        payload: senml(value),
      });
    if (observe === undefined || decodeUint(observe) !== 0) {
      // A deregistration (Observe: 1) or a plain GET: the current value, no Observe option.
      return [{ delay: script.latency, reply: content(script.values[script.values.length - 1], undefined, MessageType.ACK, request.messageId) }];
    }
    const answer = script.registrations[Math.min(registrations++, script.registrations.length - 1)];
    if (answer !== 'ok') {
      return [{ delay: script.latency, reply: createPdu({ type: MessageType.ACK, code: answer, messageId: request.messageId, token: request.token }) }];
    }
    return script.values.map((value, index) => ({
      delay: script.latency + index * script.interval,
      reply: index === 0 ? content(value, 1, MessageType.ACK, request.messageId) : content(value, index + 1, MessageType.NON, messageId++),
    }));
  };
}

function registrationsSent(sent: ReadonlyArray<{ pdu: CoapPdu | undefined; time: number }>): number[] {
  return sent.filter(({ pdu }) => pdu !== undefined && pdu.code === Method.GET && decodeUint(getOption(pdu, OptionNumber.Observe) ?? encodeUint(1)) === 0).map(({ time }) => time);
}

describe('TemperatureService in virtual time (marble test of application logic)', () => {
  let scheduler: TestScheduler;
  let ctx: CoapContext;

  beforeEach(() => {
    scheduler = new TestScheduler((actual, expected) => expect(actual).toEqual(expected));
  });

  afterEach(async () => {
    await ctx?.free();
  });

  it('emits readings as notifications arrive and shares one observation between subscribers', () => {
    const fake = createFakeTransport({
      scheduler,
      respond: sensorServer({ registrations: ['ok'], values: [21, 21.5, 22, 22.5], interval: 100, latency: 10 }),
    });
    scheduler.run(({ expectObservable }) => {
      ctx = new CoapContext({ scheduler });
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      const celsius$ = new TemperatureService(session, { scheduler }).temperature$.pipe(map((reading) => reading.celsius));

      expectObservable(celsius$, '^ 400ms !').toBe('10ms a 99ms b 99ms c 99ms d', { a: 21, b: 21.5, c: 22, d: 22.5 });
      // A late subscriber gets the latest reading at once (shareReplay), then the rest.
      expectObservable(celsius$, '150ms ^ 250ms !').toBe('150ms b 59ms c 99ms d', { b: 21.5, c: 22, d: 22.5 });
    });
    expect(registrationsSent(fake.sent)).toEqual([0]);
  });

  it('drives an overheating alarm that reports changes only', () => {
    const fake = createFakeTransport({
      scheduler,
      respond: sensorServer({ registrations: ['ok'], values: [24, 25.5, 26, 27, 24.5, 24], interval: 1000, latency: 5 }),
    });
    scheduler.run(({ expectObservable }) => {
      ctx = new CoapContext({ scheduler });
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      const alarm$ = overheating(new TemperatureService(session, { scheduler }).temperature$, 25);

      expectObservable(alarm$, '^ 6s !').toBe('5ms f 999ms t 2999ms f', { f: false, t: true });
    });
  });

  it('registers again with exponential back-off after the server answers 5.03, then streams', () => {
    const fake = createFakeTransport({
      scheduler,
      respond: sensorServer({
        registrations: [ResponseCode.ServiceUnavailable, ResponseCode.ServiceUnavailable, 'ok'],
        values: [20, 20.5],
        interval: 100,
        latency: 10,
      }),
    });
    scheduler.run(({ expectObservable }) => {
      ctx = new CoapContext({ scheduler });
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      const celsius$ = new TemperatureService(session, { scheduler, initialDelay: 1000 }).temperature$.pipe(map((reading) => reading.celsius));

      // 5.03 at 10 ms, again after 1 s (at 1020 ms), then after 2 s more the registration succeeds (3030 ms).
      expectObservable(celsius$, '^ 4s !').toBe('3030ms a 99ms b', { a: 20, b: 20.5 });
    });
    expect(registrationsSent(fake.sent)).toEqual([0, 1010, 3020]);
  });

  it('errors once the retries are spent', () => {
    const fake = createFakeTransport({
      scheduler,
      respond: sensorServer({ registrations: [ResponseCode.NotFound], values: [20], interval: 100, latency: 10 }),
    });
    scheduler.run(({ expectObservable }) => {
      ctx = new CoapContext({ scheduler });
      const session = ctx.newClientSession({ server: 'coap://127.0.0.1', transport: fake.factory });
      const celsius$ = new TemperatureService(session, { scheduler, initialDelay: 100, maxRetries: 2 }).temperature$.pipe(
        map((reading) => reading.celsius),
      );

      // Registrations at 0, 110 and 320 ms; the third 4.04 (330 ms) is final.
      expectObservable(celsius$.pipe(map(String))).toBe('330ms #', undefined, expect.objectContaining({ code: 'COAP_ERR_RESPONSE', message: '4.04 Not Found from /sensors/temperature' }));
    });
    expect(registrationsSent(fake.sent)).toEqual([0, 110, 320]);
  });
});
