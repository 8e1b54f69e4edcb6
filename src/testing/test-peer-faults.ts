/**
 * Faults the test peer injects: into request handling on every transport ({@link TestFault}: drop, delay,
 * 5.03, RST, Echo challenges of RFC 9175 §2), and into its TCP/TLS listeners ({@link TestStreamFault}: no or
 * late CSM, Release, Abort, dropped connection, oversize frame, stall; RFC 8323).
 */
import { sameBytes } from '../codec/bytes';
import { OptionNumber } from '../codec/option-numbers';
import { encodeUint } from '../codec/option-values';
import { ResponseCode, getOption, type CoapPdu } from '../codec/pdu';
import { errorResponse, pathOf, type ResponseParts } from './test-peer-core';
import type { TestFault, TestStreamFault, TestStreamTransport } from './test-peer-api';
import { normalizePath } from './test-resource';
import type { RandomSource } from './seeded-random';

/** What to do with a request before it is handled. */
export type Interception = { readonly kind: 'drop' } | { readonly kind: 'delay'; readonly delay: number };

/** The state of a {@link TestFault}: drops left, the Echo value, the clients that proved freshness. */
export class RequestFaults {
  readonly #random: RandomSource;
  readonly #verifiedEchoClients = new Set<string>();
  #fault: TestFault | null = null;
  #dropsLeft = 0;
  #echoValue: Uint8Array = new Uint8Array(0);

  constructor(random: RandomSource) {
    this.#random = random;
  }

  set(fault: TestFault | null): void {
    this.#fault = fault;
    this.#dropsLeft = fault?.dropCount ?? 0;
    this.#verifiedEchoClients.clear();
    const echo = fault?.echo;
    if (echo instanceof Uint8Array) this.#echoValue = echo;
    else if (echo === true) {
      const value = new Uint8Array(8);
      for (let i = 0; i < value.length; i++) value[i] = Math.floor(this.#random() * 256);
      this.#echoValue = value;
    }
  }

  /** Whether the request is dropped or delayed before it is handled (the random source is drawn here). */
  intercept(pdu: CoapPdu): Interception | undefined {
    const fault = this.#fault;
    if (fault === null || !applies(fault.path, pdu)) return undefined;
    if (this.#dropsLeft > 0) {
      this.#dropsLeft--;
      return DROP;
    }
    if (fault.drop !== undefined && fault.drop > 0 && this.#random() < fault.drop) return DROP;
    if (fault.delay !== undefined && fault.delay > 0) return { kind: 'delay', delay: fault.delay };
    return undefined;
  }

  /**
   * The answer the fault imposes on a request being handled, if any: RST (datagrams only), 5.03, or a 4.01
   * Echo challenge.
   * @param clientKey - the client endpoint, which stays fresh once it repeated the Echo value
   * @param datagram - whether RST exists on the transport
   */
  answer(pdu: CoapPdu, clientKey: string, datagram: boolean): ResponseParts | 'reset' | undefined {
    const fault = this.#fault;
    if (fault === null || !applies(fault.path, pdu)) return undefined;
    if (fault.reset === true && datagram) return 'reset';
    if (fault.serviceUnavailable !== undefined) {
      const maxAge = fault.serviceUnavailable.maxAge ?? 60;
      return errorResponse(ResponseCode.ServiceUnavailable, 'service unavailable', [{ number: OptionNumber.MaxAge, value: encodeUint(maxAge) }]);
    }
    if (fault.echo !== undefined && fault.echo !== false && !this.#verifiedEchoClients.has(clientKey)) {
      const echo = getOption(pdu, OptionNumber.Echo);
      if (echo === undefined || !sameBytes(echo, this.#echoValue)) {
        // RFC 9175 §2.2.1: 4.01 with an Echo option asks the client to repeat the value in a new request.
        return errorResponse(ResponseCode.Unauthorized, 'echo required', [{ number: OptionNumber.Echo, value: this.#echoValue }]);
      }
      this.#verifiedEchoClients.add(clientKey);
    }
    return undefined;
  }
}

const DROP: Interception = { kind: 'drop' };

function applies(path: string | undefined, pdu: CoapPdu): boolean {
  return path === undefined || normalizePath(path) === pathOf(pdu);
}

/** What a {@link TestStreamFault} does to one request (or connection, for `stall`). */
export type StreamFaultAction =
  | { readonly kind: 'stall' }
  | { readonly kind: 'drop'; readonly midResponse: boolean }
  | { readonly kind: 'abort'; readonly diagnostic: string; readonly badCsmOption?: number }
  | { readonly kind: 'release'; readonly alternativeAddress?: string; readonly holdOff?: number }
  | { readonly kind: 'oversize'; readonly by: number };

/** When the peer sends its CSM on a new connection: after this many milliseconds (0: at once), or never. */
export type CsmPlan = number | 'never';

/** The state of a {@link TestStreamFault}: which connections and requests it still acts on. */
export class StreamFaults {
  #fault: TestStreamFault | null = null;
  #timesLeft = Infinity;

  set(fault: TestStreamFault | null): void {
    this.#fault = fault;
    this.#timesLeft = fault?.times ?? Infinity;
  }

  /** When a new connection on `transport` gets the peer's CSM. */
  csmPlan(transport: TestStreamTransport): CsmPlan {
    const fault = this.#active(transport);
    if (fault === undefined || (fault.noCsm !== true && fault.csmDelay === undefined)) return 0;
    this.#spend();
    return fault.noCsm === true ? 'never' : Math.max(0, fault.csmDelay ?? 0);
  }

  /** True when a connection that answered `answered` requests stalls now, without a request (a `stall` with no `path`). */
  stallsAt(transport: TestStreamTransport, answered: number): boolean {
    const fault = this.#active(transport);
    if (fault === undefined || fault.stall !== true || fault.path !== undefined || answered < (fault.afterRequests ?? 0)) return false;
    this.#spend();
    return true;
  }

  /** What the fault does to this request, if anything (one of stall, drop, abort, release, oversize, in that order). */
  onRequest(transport: TestStreamTransport, answered: number, pdu: CoapPdu): StreamFaultAction | undefined {
    const fault = this.#active(transport);
    if (fault === undefined || answered < (fault.afterRequests ?? 0) || !applies(fault.path, pdu)) return undefined;
    const action = actionOf(fault);
    if (action !== undefined) this.#spend();
    return action;
  }

  #active(transport: TestStreamTransport): TestStreamFault | undefined {
    const fault = this.#fault;
    if (fault === null || this.#timesLeft <= 0) return undefined;
    if (fault.transports !== undefined && !fault.transports.includes(transport)) return undefined;
    return fault;
  }

  #spend(): void {
    this.#timesLeft--;
    if (this.#timesLeft <= 0) this.#fault = null;
  }
}

function actionOf(fault: TestStreamFault): StreamFaultAction | undefined {
  if (fault.stall === true) return { kind: 'stall' };
  if (fault.drop !== undefined) return { kind: 'drop', midResponse: fault.drop === 'mid-response' };
  if (fault.abort !== undefined) return { kind: 'abort', diagnostic: fault.abort.diagnostic ?? 'aborted by the test peer', badCsmOption: fault.abort.badCsmOption };
  if (fault.release !== undefined) return { kind: 'release', alternativeAddress: fault.release.alternativeAddress, holdOff: fault.release.holdOff };
  if (fault.oversize !== undefined) return { kind: 'oversize', by: fault.oversize === true ? 1 : Math.max(1, fault.oversize) };
  return undefined;
}
