/**
 * The ONE place that chooses the stack under the exchanges (aiocoap protocol.py, undici connectH1): a datagram
 * transport gets the message layer (CON/NON, MIDs, retransmission, dedup); a reliable transport would get
 * signaling (CSM, Ping/Pong) in its place. Both offer the same {@link ExchangeContext} to the exchange layer.
 */
import { Observable, Subject, type SchedulerLike } from 'rxjs';
import { CoapArgumentError } from '../errors';
import { tokenToHex } from '../codec/pdu';
import type { ExchangeContext } from '../exchange/exchange-context';
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
  /** Errors when the connection is lost or the session closes; exchanges merge it in. */
  readonly failure$: Observable<never>;
  /** Fails every exchange running on this stack. */
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
  const failure = new Subject<never>();
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
  return {
    tokens,
    transmit: (request, confirmable) =>
      confirmable ? messages.sendConfirmable(request, { token: tokenToHex(request.token) }) : messages.sendNonConfirmable(request),
    scheduler: config.scheduler,
    responseTimeout: config.params.separateResponseTimeout,
    nonTimeout: config.params.nonTimeout,
    peer: transport.remote,
    ping: () => messages.ping(),
    failure$: failure.asObservable(),
    fail(error) {
      inbound.unsubscribe();
      failure.error(error);
    },
    frameOverhead: transport.maxFrameOverhead,
    reliable: false,
  };
}
