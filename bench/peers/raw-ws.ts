/**
 * The raw floor over WebSockets (RFC 8323 §4): a `ws` client on /.well-known/coap (subprotocol coap, no
 * permessage-deflate) that sends our CSM first, waits for the server's (libcoap holds every response until it has
 * the client's), then sends pre-encoded GET messages, one per loop slot, rewriting only the second half of its
 * 8-byte token per request; responses are matched by token without decoding options. Writes are corked until the
 * end of the tick (each message stays its own WebSocket frame): what any CoAP-over-WebSockets client on `ws` must
 * at least do on this machine. With `observable`, each GET is also an rxjs Observable (subscribed, then next and
 * complete): the least a client whose requests are Observables does; with `decode` too, each response is decoded,
 * checked and made a `CoapResponse` by rxcoap's own code.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { Observable } from 'rxjs';
import WebSocket from 'ws';
import { decodeWsMessage } from '../../src/codec/ws-codec';
import { checkResponse } from '../../src/exchange/request';
import { CoapResponse } from '../../src/exchange/response';
import { closedLoop, type Contender } from '../measure';
import { encodeMessage, pathOptions, uintValue } from './raw-dgram';

const CSM = 0xe1;
const PING = 0xe2;
const PONG = 0xe3;

/** One RFC 8323 §4.2 message: Len 0 and TKL, code, token, options (cut out of raw-dgram's RFC 7252 datagram). */
export function encodeWsMessage(code: number, token: Uint8Array, options: readonly (readonly [number, Uint8Array])[]): Buffer {
  const datagram = encodeMessage(0, code, 0, token, options);
  return Buffer.concat([Buffer.of(token.length, code), token, datagram.subarray(4 + token.length)]);
}

/** Our CSM: Max-Message-Size 65536 and Block-Wise-Transfer, as rxcoap sends it. */
const CLIENT_CSM = encodeWsMessage(CSM, new Uint8Array(0), [
  [2, uintValue(65536)],
  [4, new Uint8Array(0)],
]);

export interface RawWsGetOptions {
  readonly url: string;
  readonly path: string;
  readonly inFlight: number;
  /**
   * Each GET as an rxjs Observable: made, subscribed with an observer, and answered with next and complete (its
   * teardown frees the slot). The least any client whose requests are Observables does on top of the raw floor.
   */
  readonly observable?: boolean;
  /**
   * Each response also decoded with rxcoap's WebSocket codec, checked as a response must be (RFC 7252 §5.4) and
   * made a `CoapResponse`: with `observable`, what even a client that sends pre-encoded requests must do.
   */
  readonly decode?: boolean;
}

/** The raw ws client as a {@link Contender}. */
export function rawWsGetContender(options: RawWsGetOptions): Contender {
  let webSocket: WebSocket | undefined;
  let socket: Socket | undefined;
  const inFlight = options.inFlight;
  const frames = Array.from({ length: inFlight }, (_, slot) => {
    const token = Buffer.alloc(8);
    token.writeUInt32BE(slot, 0);
    return encodeWsMessage(0x01, token, pathOptions(options.path));
  });
  const sequence = new Uint32Array(inFlight);
  const waiting: (((ok: boolean) => void) | undefined)[] = new Array(inFlight).fill(undefined);
  let failure: Error | undefined;
  let csm: (() => void) | undefined;
  let csmSeen = false;
  let corked = false;
  const decode = options.decode === true;
  const peer = { host: '127.0.0.1', port: Number(new URL(options.url).port) };
  /** The last decoded response (kept, so the decoding is not work thrown away at once). */
  let lastResponse: CoapResponse | undefined;
  const uncork = (): void => {
    corked = false;
    socket?.uncork();
  };
  const failAll = (error: Error): void => {
    failure ??= error;
    for (let slot = 0; slot < inFlight; slot++) {
      const done = waiting[slot];
      waiting[slot] = undefined;
      done?.(false);
    }
  };
  const onMessage = (message: Buffer): void => {
    if (!corked && socket !== undefined) {
      corked = true;
      socket.cork();
      queueMicrotask(uncork);
    }
    if (message.length < 2) return;
    const tokenLength = message[0] & 0x0f;
    const code = message[1];
    if (code >= 0x40 && code < 0xe0) {
      if (tokenLength !== 8) return;
      const slot = message.readUInt32BE(2);
      if (slot >= inFlight || message.readUInt32BE(6) !== sequence[slot]) return;
      const done = waiting[slot];
      waiting[slot] = undefined;
      if (decode) {
        const checked = checkResponse(decodeWsMessage(message));
        if (checked instanceof Error) {
          done?.(false);
          return;
        }
        lastResponse = new CoapResponse(checked, peer);
      }
      done?.(true);
    } else if (code === CSM) {
      csmSeen = true;
      csm?.();
    } else if (code === PING) {
      webSocket?.send(Buffer.concat([Buffer.of(tokenLength, PONG), message.subarray(2, 2 + tokenLength)]));
    }
  };
  return {
    name: `raw ws${options.observable ? ' + Observable' : ''}${decode ? ' + decode' : ''}`,
    async setup() {
      const ws = new WebSocket(options.url, 'coap', { perMessageDeflate: false });
      webSocket = ws;
      ws.binaryType = 'nodebuffer';
      ws.on('upgrade', (response: IncomingMessage) => (socket = response.socket as Socket));
      ws.on('message', onMessage);
      ws.on('error', (error) => failAll(error));
      ws.on('close', () => failAll(new Error('raw ws: the server closed the WebSocket')));
      await new Promise<void>((resolve, reject) => {
        ws.once('open', () => resolve());
        ws.once('error', reject);
      });
      ws.send(CLIENT_CSM);
      await new Promise<void>((resolve, reject) => {
        if (csmSeen) return resolve();
        const timer = setTimeout(() => reject(new Error('raw ws: no CSM from the server within 5000 ms')), 5000);
        csm = () => {
          clearTimeout(timer);
          csm = undefined;
          resolve();
        };
      });
    },
    window(ms) {
      const ws = webSocket!;
      if (failure !== undefined) return Promise.reject(failure);
      const send = (slot: number, done: (ok: boolean) => void): void => {
        const frame = frames[slot];
        const next = (sequence[slot] = (sequence[slot] + 1) >>> 0);
        // ws copies a message as it masks it: rewriting the slot's frame for its next GET is safe.
        frame.writeUInt32BE(next, 6);
        waiting[slot] = done;
        ws.send(frame);
      };
      const get = options.observable ? (slot: number, done: (ok: boolean) => void): void => observableGet(slot, done, send, waiting) : send;
      socket?.cork();
      const result = closedLoop(ms, inFlight, (done, slot) => {
        if (failure !== undefined) {
          done(false);
          return;
        }
        get(slot, done);
      });
      socket?.uncork();
      return result;
    },
    async teardown() {
      lastResponse = undefined;
      webSocket?.terminate();
    },
  };
}

/** One GET of the Observable variant: the raw send inside an Observable's subscribe, answered with next + complete. */
function observableGet(slot: number, done: (ok: boolean) => void, send: (slot: number, done: (ok: boolean) => void) => void, waiting: (((ok: boolean) => void) | undefined)[]): void {
  let answered = false;
  new Observable<boolean>((subscriber) => {
    const answer = (ok: boolean): void => {
      if (!ok) {
        subscriber.error(new Error('raw ws: the connection failed'));
        return;
      }
      subscriber.next(ok);
      subscriber.complete();
    };
    send(slot, answer);
    // The next GET of this slot may already wait here (complete runs the observer before this teardown).
    return () => {
      if (waiting[slot] === answer) waiting[slot] = undefined;
    };
  }).subscribe({ next: () => (answered = true), error: () => done(false), complete: () => done(answered) });
}
