/**
 * A bare node:dgram CoAP client for the test-kit specs: encodes PDUs with the codec, queues every
 * datagram it receives, and waits for them with short, bounded timeouts.
 */
import { createSocket, type Socket } from 'node:dgram';
import { createPdu, MessageType, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeString } from '../../src/codec/option-values';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';

/** A received datagram, decoded, with its raw bytes. */
export interface Received {
  readonly pdu: CoapPdu;
  readonly bytes: Uint8Array;
  readonly at: number;
}

export class DgramClient {
  readonly #socket: Socket;
  readonly #inbox: Received[] = [];
  #waiter: (() => void) | undefined;
  #messageId = 0x1000;
  #token = 0x10;

  private constructor(socket: Socket) {
    this.#socket = socket;
    socket.on('message', (message) => {
      const bytes = new Uint8Array(message);
      this.#inbox.push({ pdu: decodeDatagram(bytes), bytes, at: Date.now() });
      this.#waiter?.();
    });
  }

  static open(host = '127.0.0.1'): Promise<DgramClient> {
    const socket = createSocket(host === '::1' ? 'udp6' : 'udp4');
    return new Promise((resolve) => socket.bind({ address: host, port: 0 }, () => resolve(new DgramClient(socket))));
  }

  get port(): number {
    return this.#socket.address().port;
  }

  nextMessageId(): number {
    return this.#messageId++;
  }

  nextToken(): Uint8Array {
    return Uint8Array.of(0xa0, this.#token++ & 0xff);
  }

  /** A request PDU with Uri-Path options from `path` (and Uri-Query from `?a&b`). */
  request(code: number, path: string, init: { type?: MessageType; options?: CoapOption[]; payload?: Uint8Array | string; token?: Uint8Array; messageId?: number } = {}): CoapPdu {
    const [pathPart, queryPart] = path.split('?');
    const options: CoapOption[] = [...(init.options ?? [])];
    for (const segment of pathPart.split('/').filter((s) => s.length > 0)) options.push({ number: OptionNumber.UriPath, value: encodeString(segment) });
    if (queryPart !== undefined) for (const q of queryPart.split('&')) options.push({ number: OptionNumber.UriQuery, value: encodeString(q) });
    return createPdu({
      type: init.type ?? MessageType.CON,
      code,
      messageId: init.messageId ?? this.nextMessageId(),
      token: init.token ?? this.nextToken(),
      options,
      payload: typeof init.payload === 'string' ? new TextEncoder().encode(init.payload) : init.payload,
    });
  }

  send(pdu: CoapPdu, port: number, host = '127.0.0.1'): void {
    this.sendBytes(encodeDatagram(pdu), port, host);
  }

  sendBytes(bytes: Uint8Array, port: number, host = '127.0.0.1'): void {
    this.#socket.send(bytes, port, host);
  }

  /** The next received datagram (in arrival order), or a rejection after `timeout` ms. */
  async next(timeout = 1000): Promise<Received> {
    const deadline = Date.now() + timeout;
    while (this.#inbox.length === 0) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no datagram within ${timeout} ms`);
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.#waiter = undefined;
          resolve();
        }, left);
        this.#waiter = () => {
          clearTimeout(timer);
          this.#waiter = undefined;
          resolve();
        };
      });
    }
    return this.#inbox.shift() as Received;
  }

  /** Sends a request and returns the next datagram received. */
  async exchange(pdu: CoapPdu, port: number, timeout = 1000): Promise<CoapPdu> {
    this.send(pdu, port);
    return (await this.next(timeout)).pdu;
  }

  /** Resolves true when nothing arrives within `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#inbox.length === 0;
  }

  get pending(): number {
    return this.#inbox.length;
  }

  #closing: Promise<void> | undefined;

  /** Closes the socket; calling it again returns the same promise. */
  close(): Promise<void> {
    this.#closing ??= new Promise((resolve) => this.#socket.close(() => resolve()));
    return this.#closing;
  }
}

/**
 * Active handles of one kind (UDP sockets, timers), to prove close() leaves nothing open. A closed
 * socket stays listed until libuv has run its close callbacks, so two event-loop turns pass first.
 */
export async function activeResources(kind: 'UDPWrap' | 'Timeout'): Promise<number> {
  for (let turn = 0; turn < 2; turn++) await new Promise((resolve) => setImmediate(resolve));
  return process.getActiveResourcesInfo().filter((name) => name === kind).length;
}

/** Polls until `condition` holds, for at most `timeout` ms. */
export async function waitFor(condition: () => boolean, timeout = 1000): Promise<void> {
  const deadline = Date.now() + timeout;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeout} ms`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** True once at most `count` handles of `kind` are active, checked for up to `timeout` ms. */
export async function settlesTo(kind: 'UDPWrap' | 'Timeout', count: number, timeout: number): Promise<boolean> {
  const deadline = Date.now() + timeout;
  for (;;) {
    if ((await activeResources(kind)) <= count) return true;
    if (Date.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}
