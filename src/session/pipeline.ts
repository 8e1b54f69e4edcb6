/**
 * The ONE place that chooses the stack under the exchanges (aiocoap protocol.py, undici connectH1): a datagram
 * transport gets the message layer (CON/NON, MIDs, retransmission, dedup, `datagram-stack.ts`); a reliable one
 * gets signaling (CSM, Ping/Pong, Release/Abort, `reliable-stack.ts`) and the framing its transport names (byte
 * stream or WebSocket). Both offer the same {@link ExchangeContext} to the exchange layer, plain objects both.
 */
import type { Observable, SchedulerLike } from 'rxjs';
import type { ExchangeContext } from '../exchange/exchange-context';
import type { TokenGenerator } from '../exchange/token';
import type { MessageLayerEvent } from '../message-layer/message-layer';
import type { TransmissionParameters } from '../message-layer/transmission-params';
import type { Framing, Transport } from '../transport/transport';
import { CoapArgumentError } from '../errors';
import { DEFAULT_MAX_MESSAGE_SIZE } from '../codec/stream-codec';
// Only the size rule: the stack itself is installed (installDatagramStack), so browser bundles can leave it out.
import { datagramMaxPduSize } from './datagram-stack';
import type { FailureWatcher } from './failure-watchers';
import { ReliableStack, reliableMaxPduSize, type ReliableOptions } from './reliable-stack';
import type { SessionEvent } from './session-events';

export type { FailureWatcher } from './failure-watchers';

/** What the session configures a stack with. */
export interface StackConfig {
  readonly params: TransmissionParameters;
  readonly scheduler: SchedulerLike;
  readonly random: () => number;
  readonly tokenGenerator: TokenGenerator;
  readonly onEvent: (event: MessageLayerEvent | SessionEvent) => void;
  /** The session: its `maxPduSize()` (MTU less security overhead and header) is read per message. */
  readonly sizeLimit?: { maxPduSize(): number };
  /** First message ID. @defaultValue a CSPRNG draw (`randomMessageId`) */
  readonly firstMessageId?: number;
  /** Signaling settings of reliable transports. */
  readonly reliable?: ReliableOptions;
  /** Traces each message sent and received after framing (the logger's `pdu`), when set. */
  readonly trace?: (direction: 'sent' | 'received', frame: Uint8Array, framing: Framing) => void;
  /** The session: told when the stack is ready (reliable: the server's CSM is in) and when it failed by itself. */
  readonly owner?: StackOwner;
}

/** Who a stack reports to (the session; an object, not callbacks: nothing allocated per session). */
export interface StackOwner {
  /** The stack can carry requests now. */
  stackReady(stack: Stack): void;
  /** The stack failed by itself (Release, Abort, a bad frame, a CSM or keepalive timeout): tear down. */
  stackFailed(error: unknown): void;
}

/** A connected stack: the exchange context plus what the session itself needs. */
export interface Stack extends ExchangeContext {
  /** CoAP ping; emits the round trip in milliseconds. */
  ping(): Observable<number>;
  /**
   * Registers an exchange to fail when the connection is lost or the session closes (called at once when that
   * already happened). An object, not a callback: one request at a time then allocates nothing here.
   */
  watch(watcher: FailureWatcher): void;
  /** Unregisters a watcher (its exchange ended). */
  unwatch(watcher: FailureWatcher): void;
  /** Fails every exchange running on this stack and stops its timers. */
  fail(error: unknown): void;
  /** True once the stack failed. */
  readonly failed: boolean;
  /** The session closes on purpose: say goodbye (a Release on reliable transports) before the transport closes. */
  close(): void;
  /** Largest message this stack sends, header excluded (libcoap `coap_session_max_pdu_size`). */
  maxPduSize(mtu: number): number;
  /** Bytes the transport adds per frame (DTLS). */
  readonly frameOverhead: number;
  /** True when the stack carries CoAP over a reliable transport (no CON/NON). */
  readonly reliable: boolean;
  /** BERT may be used (RFC 8323 §6: both CSMs carry Block-Wise-Transfer). */
  readonly bert: boolean;
  /**
   * A request to a multicast group (RFC 7252 §8): every member's answer until `window` ms have passed. Datagram
   * stacks only (a method here, not an import of the session, so WebSocket bundles leave it out).
   */
  multicast?(request: import('../exchange/request').RequestTemplate, window: number): Observable<import('../exchange/response').CoapResponse>;
}

/**
 * `maxPduSize()` before the stack exists: datagrams from the MTU; reliable transports from RFC 8323 §5.3.1's
 * 1152 bytes until the server's CSM says more.
 */
export function maxPduSizeBeforeConnect(reliable: boolean, mtu: number, frameOverhead: number): number {
  return reliable ? reliableMaxPduSize(DEFAULT_MAX_MESSAGE_SIZE, 'stream') : datagramMaxPduSize(mtu, frameOverhead);
}

/** Makes a stack on a connected transport. */
export type StackMaker = (transport: Transport, config: StackConfig) => Stack;

/**
 * The datagram stack, once installed: `useDatagramStack()` (use-datagram-stack.ts) installs it, and `rxcoap/node`
 * and the fake transport call that. Not imported here: the message layer is about 3 KB gzipped, and a browser
 * app on WebSockets never needs it.
 */
let datagramStack: StackMaker | undefined;

/** @internal Installs the datagram stack (use-datagram-stack.ts). */
export function installDatagramStack(make: StackMaker): void {
  datagramStack = make;
}

/**
 * Builds the stack for `transport`. A datagram transport without the datagram stack installed throws
 * {@link CoapArgumentError} (the session fails its requests with it) that says how to install it.
 */
export function createStack(transport: Transport, config: StackConfig): Stack {
  const framing = transport.framing ?? (transport.reliable ? 'stream' : 'datagram');
  if (framing !== 'datagram') return new ReliableStack(transport, framing, config);
  if (datagramStack === undefined) {
    throw new CoapArgumentError(
      "a datagram transport needs the datagram stack (message layer), which the core leaves out of browser bundles: call useDatagramStack() from 'rxcoap' once (rxcoap/node does)",
      { field: 'transport' },
    );
  }
  return datagramStack(transport, config);
}

