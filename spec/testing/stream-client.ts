/**
 * A bare node:net / node:tls CoAP-over-TCP client for the test-kit specs (RFC 8323): encodes frames with the
 * codec, deframes what arrives, and waits for it with short, bounded timeouts. It does nothing on its own
 * (no CSM, no Pong) unless asked, so specs see exactly what the peer does.
 */
import { connect as connectTcp, type Socket } from 'node:net';
import { connect as connectTls, type ConnectionOptions, type TLSSocket } from 'node:tls';
import { OptionNumber, SignalOption } from '../../src/codec/option-numbers';
import { encodeString, encodeUint } from '../../src/codec/option-values';
import { EMPTY_BYTES, SignalCode, createPdu, type CoapOption, type CoapPdu } from '../../src/codec/pdu';
import { StreamDeframer, encodeStreamFrame } from '../../src/codec/stream-codec';

/** A received frame, decoded, with its encoded size and arrival time. */
export interface ReceivedFrame {
  readonly pdu: CoapPdu;
  readonly size: number;
  readonly at: number;
}

export class StreamClient {
  readonly socket: Socket;
  readonly #deframer = new StreamDeframer({ maxMessageSize: Infinity });
  readonly #inbox: ReceivedFrame[] = [];
  #waiter: (() => void) | undefined;
  #token = 0x10;
  /** Bytes received in all. */
  bytesReceived = 0;
  /** The peer half-closed (FIN). */
  ended = false;
  /** The socket is closed. */
  closed = false;
  readonly closedAt: Promise<number>;

  private constructor(socket: Socket) {
    this.socket = socket;
    socket.setNoDelay(true);
    socket.on('data', (chunk: Buffer) => {
      this.bytesReceived += chunk.length;
      const at = Date.now();
      for (const pdu of this.#deframer.push(new Uint8Array(chunk))) this.#inbox.push({ pdu, size: encodeStreamFrame(pdu).length, at });
      this.#waiter?.();
    });
    socket.on('end', () => {
      this.ended = true;
      this.#waiter?.();
    });
    socket.on('error', () => undefined);
    this.closedAt = new Promise((resolve) =>
      socket.on('close', () => {
        this.closed = true;
        this.#waiter?.();
        resolve(Date.now());
      }),
    );
  }

  static tcp(port: number, host = '127.0.0.1'): Promise<StreamClient> {
    return new Promise((resolve, reject) => {
      const socket = connectTcp({ host, port }, () => {
        socket.off('error', reject);
        resolve(new StreamClient(socket));
      });
      socket.once('error', reject);
    });
  }

  /** Resolves after the TLS handshake; rejects when it fails. */
  static tls(port: number, options: ConnectionOptions): Promise<StreamClient & { readonly socket: TLSSocket }> {
    return new Promise((resolve, reject) => {
      const socket = connectTls({ host: '127.0.0.1', port, ...options }, () => {
        socket.off('error', reject);
        resolve(new StreamClient(socket) as StreamClient & { readonly socket: TLSSocket });
      });
      socket.once('error', reject);
    });
  }

  nextToken(): Uint8Array {
    return Uint8Array.of(0xb0, this.#token++ & 0xff);
  }

  /** A request PDU with Uri-Path options from `path` (and Uri-Query from `?a&b`). */
  request(code: number, path: string, init: { options?: CoapOption[]; payload?: Uint8Array | string; token?: Uint8Array } = {}): CoapPdu {
    const [pathPart, queryPart] = path.split('?');
    const options: CoapOption[] = [...(init.options ?? [])];
    for (const segment of pathPart.split('/').filter((s) => s.length > 0)) options.push({ number: OptionNumber.UriPath, value: encodeString(segment) });
    if (queryPart !== undefined) for (const q of queryPart.split('&')) options.push({ number: OptionNumber.UriQuery, value: encodeString(q) });
    return createPdu({
      code,
      token: init.token ?? this.nextToken(),
      options,
      payload: typeof init.payload === 'string' ? new TextEncoder().encode(init.payload) : init.payload,
    });
  }

  /** Sends a CSM (RFC 8323 §5.3). */
  csm(maxMessageSize = 1152, blockWiseTransfer = false, extra: CoapOption[] = []): void {
    const options: CoapOption[] = [{ number: SignalOption.MaxMessageSize, value: encodeUint(maxMessageSize) }, ...extra];
    if (blockWiseTransfer) options.push({ number: SignalOption.BlockWiseTransfer, value: EMPTY_BYTES });
    this.send(createPdu({ code: SignalCode.CSM, options }));
  }

  send(pdu: CoapPdu): void {
    this.sendBytes(encodeStreamFrame(pdu));
  }

  sendBytes(bytes: Uint8Array): void {
    this.socket.write(bytes);
  }

  /** The next received frame, or a rejection after `timeout` ms (or when the connection closes first). */
  async next(timeout = 1000): Promise<ReceivedFrame> {
    const deadline = Date.now() + timeout;
    while (this.#inbox.length === 0) {
      if (this.closed) throw new Error('connection closed');
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`no frame within ${timeout} ms`);
      await this.#wait(left);
    }
    return this.#inbox.shift() as ReceivedFrame;
  }

  /** The next frame's PDU. */
  async nextPdu(timeout = 1000): Promise<CoapPdu> {
    return (await this.next(timeout)).pdu;
  }

  /** Sends a request and returns the next frame received. */
  async exchange(pdu: CoapPdu, timeout = 1000): Promise<CoapPdu> {
    this.send(pdu);
    return this.nextPdu(timeout);
  }

  /** Connects, reads the peer's CSM, sends ours: ready for requests. */
  async handshake(maxMessageSize = 1152, blockWiseTransfer = false): Promise<CoapPdu> {
    const csm = await this.nextPdu();
    if (csm.code !== SignalCode.CSM) throw new Error(`expected a CSM, got code ${csm.code}`);
    this.csm(maxMessageSize, blockWiseTransfer);
    return csm;
  }

  /** Resolves true when nothing arrives (and the connection stays open) for `ms`. */
  async silentFor(ms: number): Promise<boolean> {
    await new Promise((resolve) => setTimeout(resolve, ms));
    return this.#inbox.length === 0 && !this.closed;
  }

  /** Resolves once the socket closed, rejects after `timeout` ms. */
  async waitClosed(timeout = 1000): Promise<void> {
    const deadline = Date.now() + timeout;
    while (!this.closed) {
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`connection still open after ${timeout} ms`);
      await this.#wait(left);
    }
  }

  /** Bytes of a frame that never completed. */
  get partialBytes(): number {
    return this.#deframer.bufferedBytes;
  }

  get pending(): number {
    return this.#inbox.length;
  }

  close(): Promise<void> {
    if (this.closed) return Promise.resolve();
    this.socket.destroy();
    return this.closedAt.then(() => undefined);
  }

  #wait(ms: number): Promise<void> {
    return new Promise<void>((resolve) => {
      const timer = setTimeout(() => {
        this.#waiter = undefined;
        resolve();
      }, ms);
      this.#waiter = () => {
        clearTimeout(timer);
        this.#waiter = undefined;
        resolve();
      };
    });
  }
}
