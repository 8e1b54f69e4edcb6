/**
 * The ONE place that chooses the stack under the exchanges (aiocoap protocol.py, undici connectH1): a datagram
 * transport gets the message layer (CON/NON, MIDs, retransmission, dedup); a reliable transport would get
 * signaling (CSM, Ping/Pong) in its place. Both offer the same {@link ExchangeContext} to the exchange layer.
 */
import { Observable, type SchedulerLike } from 'rxjs';
import { CoapArgumentError } from '../errors';
import { transmitWith, type ExchangeContext } from '../exchange/exchange-context';
import type { TokenGenerator } from '../exchange/token';
import { TokenMatcher } from '../exchange/token-matcher';
import { MessageLayer, type MessageLayerEvent } from '../message-layer/message-layer';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import type { Transport } from '../transport/transport';

/** What the session configures a stack with. */
export interface StackConfig {
  readonly params: TransmissionParameters;
  readonly scheduler: SchedulerLike;
  readonly random: () => number;
  readonly tokenGenerator: TokenGenerator;
  readonly onEvent: (event: MessageLayerEvent) => void;
}

/** A connected stack: the exchange context plus what the session itself needs. */
export interface Stack extends ExchangeContext {
  /** CoAP ping; emits the round trip in milliseconds. */
  ping(): Observable<number>;
  /** Registers what to call when the connection is lost or the session closes; returns the unregister function. */
  onFailure(fail: (error: unknown) => void): () => void;
  /** Fails every exchange running on this stack and stops its timers. */
  fail(error: unknown): void;
  /** Bytes the transport adds per frame (DTLS). */
  readonly frameOverhead: number;
  /** True when the stack carries CoAP over a reliable transport (no CON/NON). */
  readonly reliable: boolean;
}

/** Builds the stack for `transport`. */
export function createStack(transport: Transport, config: StackConfig): Stack {
  if (transport.reliable) {
    throw new CoapArgumentError('CoAP over reliable transports (TCP, TLS, WebSockets) is not supported by this version');
  }
  return datagramStack(transport, config);
}

function datagramStack(transport: Transport, config: StackConfig): Stack {
  const tokens = new TokenMatcher(config.tokenGenerator);
  const failureHandlers = new Set<(error: unknown) => void>();
  let failure: { error: unknown } | undefined;
  const messages = new MessageLayer({
    send: (frame) => transport.send(frame),
    route: (pdu) => tokens.route(pdu),
    params: config.params,
    scheduler: config.scheduler,
    random: config.random,
    firstMessageId: Math.floor(config.random() * 0x10000),
    onEvent: config.onEvent,
    peer: transport.remote,
  });
  const inbound = transport.frames$.subscribe((frame) => messages.receive(frame));
  const send: ExchangeContext['send'] = (request, confirmable, callbacks) =>
    confirmable ? messages.sendConfirmable(request, callbacks) : messages.sendNonConfirmable(request, callbacks);
  return {
    tokens,
    send,
    transmit: transmitWith(send),
    scheduler: config.scheduler,
    responseTimeout: config.params.separateResponseTimeout,
    nonTimeout: config.params.nonTimeout,
    peer: transport.remote,
    ping: () => new Observable<number>((subscriber) => {
      const started = config.scheduler.now();
      return messages.ping({
        acknowledged: () => {
          subscriber.next(config.scheduler.now() - started);
          subscriber.complete();
        },
        failed: (error) => subscriber.error(error),
      });
    }),
    onFailure(fail) {
      if (failure !== undefined) {
        fail(failure.error);
        return () => undefined;
      }
      failureHandlers.add(fail);
      return () => failureHandlers.delete(fail);
    },
    fail(error) {
      if (failure !== undefined) return;
      failure = { error };
      inbound.unsubscribe();
      messages.close();
      const handlers = [...failureHandlers];
      failureHandlers.clear();
      for (const handler of handlers) handler(error);
    },
    frameOverhead: transport.maxFrameOverhead,
    reliable: false,
  };
}
