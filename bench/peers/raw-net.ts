/**
 * The raw floor over a byte stream (RFC 8323 §3): a `node:net` client that writes our CSM first, waits for the
 * server's CSM (libcoap holds every response until it has the client's), then sends pre-encoded GET frames, one
 * per loop slot, rewriting only the second half of its 8-byte token per request. Responses are counted by a
 * minimal length parser (Len/TKL nibbles and the extended length, no option decoding) and matched by token.
 * Writes are corked until the end of the tick: the frames started while handling the responses of one tick (32
 * in flight) leave as one write, as do the first `inFlight` frames of a window. No per-request timer: a stream loses nothing, and the window
 * guard of measure.ts catches a hang. What any CoAP-over-TCP client must at least do on this machine.
 *
 * The same client runs over TLS (raw-tls.ts): {@link rawStreamGetContender} takes the connect step.
 */
import { connect, type Socket } from 'node:net';
import { closedLoop, type Contender } from '../measure';
import { encodeMessage, pathOptions, uintValue } from './raw-dgram';

/** RFC 8323 §5: signaling codes 7.01 CSM, 7.02 Ping, 7.03 Pong. */
const CSM = 0xe1;
const PING = 0xe2;
const PONG = 0xe3;
/** RFC 8323 §5.3.1-2: Max-Message-Size (2) and Block-Wise-Transfer (4). */
const MAX_MESSAGE_SIZE = 2;
const BLOCK_WISE_TRANSFER = 4;

/**
 * One RFC 8323 frame: Len/TKL, extended length, code, token, options (and payload). The options are encoded by
 * raw-dgram's RFC 7252 encoder (the option format is the same) and cut out of its datagram.
 */
export function encodeStreamFrame(code: number, token: Uint8Array, options: readonly (readonly [number, Uint8Array])[], payload?: Uint8Array): Buffer {
  const datagram = encodeMessage(0, code, 0, token, options, payload);
  const body = datagram.subarray(4 + token.length);
  const n = body.length;
  const lengthNibble = n < 13 ? n : n < 269 ? 13 : n < 65805 ? 14 : 15;
  const extended = n < 13 ? [] : n < 269 ? [n - 13] : n < 65805 ? [(n - 269) >> 8, (n - 269) & 0xff] : [(n - 65805) >>> 24, ((n - 65805) >>> 16) & 0xff, ((n - 65805) >>> 8) & 0xff, (n - 65805) & 0xff];
  return Buffer.concat([Buffer.from([(lengthNibble << 4) | token.length, ...extended, code]), token, body]);
}

/** Our CSM: Max-Message-Size 65536 and Block-Wise-Transfer, as rxcoap sends it (never empty). */
export const CLIENT_CSM = encodeStreamFrame(CSM, new Uint8Array(0), [
  [MAX_MESSAGE_SIZE, uintValue(65536)],
  [BLOCK_WISE_TRANSFER, new Uint8Array(0)],
]);

/**
 * Minimal deframer: finds frame boundaries from the Len/TKL byte and the extended length only, and calls
 * `onFrame(buffer, codeOffset, tokenLength)` for each complete frame. Keeps a partial frame across chunks.
 */
export class FrameCounter {
  #pending: Buffer | undefined;

  constructor(private readonly onFrame: (buffer: Buffer, codeOffset: number, tokenLength: number) => void) {}

  push(chunk: Buffer): void {
    const buf = this.#pending === undefined ? chunk : Buffer.concat([this.#pending, chunk]);
    let offset = 0;
    for (;;) {
      const left = buf.length - offset;
      if (left < 2) break;
      const first = buf[offset];
      const nibble = first >> 4;
      const tokenLength = first & 0x0f;
      if (tokenLength > 8) throw new Error(`raw client: token length nibble ${tokenLength} not expected`);
      const extension = nibble < 13 ? 0 : nibble === 13 ? 1 : nibble === 14 ? 2 : 4;
      if (left < 2 + extension) break;
      let length: number;
      if (extension === 0) length = nibble;
      else if (extension === 1) length = 13 + buf[offset + 1];
      else if (extension === 2) length = 269 + ((buf[offset + 1] << 8) | buf[offset + 2]);
      else length = 65805 + buf.readUInt32BE(offset + 1);
      const total = 2 + extension + tokenLength + length;
      if (left < total) break;
      this.onFrame(buf, offset + 1 + extension, tokenLength);
      offset += total;
    }
    this.#pending = offset < buf.length ? Buffer.from(buf.subarray(offset)) : undefined;
  }
}

/** A connected byte stream ready for CoAP (TCP connected, or TLS handshake done). */
export type StreamConnector = () => Promise<Socket>;

export interface RawStreamGetOptions {
  readonly name: string;
  readonly connect: StreamConnector;
  readonly path: string;
  /** Requests in flight on the one connection. */
  readonly inFlight: number;
  /** How long to wait for the server's CSM. @defaultValue 5000 */
  readonly csmTimeout?: number;
}

/** A raw `node:net` connection to `host:port`, TCP_NODELAY on. */
export function tcpConnector(host: string, port: number): StreamConnector {
  return () =>
    new Promise<Socket>((resolve, reject) => {
      const socket = connect({ host, port, noDelay: true });
      socket.once('error', reject);
      socket.once('connect', () => {
        socket.off('error', reject);
        resolve(socket);
      });
    });
}

/** The raw stream client as a {@link Contender}; `info()` tells what the connection negotiated (TLS suite). */
export function rawStreamGetContender(options: RawStreamGetOptions): Contender & { info(): string } {
  let socket: Socket | undefined;
  let info = '';
  const inFlight = options.inFlight;
  // One pre-encoded GET per slot: token = [slot u32][sequence u32]; only the sequence is rewritten.
  const frames = Array.from({ length: inFlight }, (_, slot) => {
    const token = Buffer.alloc(8);
    token.writeUInt32BE(slot, 0);
    return encodeStreamFrame(0x01, token, pathOptions(options.path));
  });
  // Token after the Len/TKL byte, the extended length and the code.
  const lengthNibble = frames[0][0] >> 4;
  const tokenOffset = 2 + (lengthNibble < 13 ? 0 : lengthNibble === 13 ? 1 : lengthNibble === 14 ? 2 : 4);
  const sequence = new Uint32Array(inFlight);
  const waiting: (((ok: boolean) => void) | undefined)[] = new Array(inFlight).fill(undefined);
  let csm: (() => void) | undefined;
  let csmSeen = false;
  let failure: Error | undefined;

  const failAll = (error: Error): void => {
    failure ??= error;
    for (let slot = 0; slot < inFlight; slot++) {
      const done = waiting[slot];
      waiting[slot] = undefined;
      done?.(false);
    }
  };

  const counter = new FrameCounter((buf, codeOffset, tokenLength) => {
    const code = buf[codeOffset];
    if (code >= 0x40 && code < 0xe0) {
      // A response: match its token to a slot and the slot's current sequence number.
      if (tokenLength !== 8) return;
      const slot = buf.readUInt32BE(codeOffset + 1);
      if (slot >= inFlight || buf.readUInt32BE(codeOffset + 5) !== sequence[slot]) return;
      const done = waiting[slot];
      waiting[slot] = undefined;
      done?.(true);
    } else if (code === CSM) {
      csmSeen = true;
      csm?.();
    } else if (code === PING) {
      socket!.write(encodeStreamFrame(PONG, buf.subarray(codeOffset + 1, codeOffset + 1 + tokenLength), []));
    }
  });

  return {
    name: options.name,
    info: () => info,
    async setup() {
      const sock = await options.connect();
      socket = sock;
      const cipher = (sock as Socket & { getCipher?: () => { name: string; version: string } }).getCipher?.();
      if (cipher !== undefined) info = `${cipher.version} ${cipher.name}`;
      // Corked until the end of the tick: every GET started while this tick's chunks are handled (a TCP read
      // may hold several TLS records, each its own chunk) leaves in one write.
      let corked = false;
      const uncork = (): void => {
        corked = false;
        sock.uncork();
      };
      sock.on('data', (chunk: Buffer) => {
        if (!corked) {
          corked = true;
          sock.cork();
          queueMicrotask(uncork);
        }
        try {
          counter.push(chunk);
        } catch (error) {
          failAll(error as Error);
          sock.destroy();
        }
      });
      sock.on('error', (error) => failAll(error));
      sock.on('close', () => failAll(new Error(`${options.name}: the server closed the connection`)));
      // RFC 8323 §5.3: our CSM first; libcoap answers nothing before it has it.
      sock.write(CLIENT_CSM);
      await new Promise<void>((resolve, reject) => {
        if (csmSeen) return resolve();
        const timer = setTimeout(() => reject(new Error(`${options.name}: no CSM from the server within ${options.csmTimeout ?? 5000} ms`)), options.csmTimeout ?? 5000);
        csm = () => {
          clearTimeout(timer);
          csm = undefined;
          resolve();
        };
      });
    },
    window(ms) {
      const sock = socket!;
      if (failure !== undefined) return Promise.reject(failure);
      sock.cork(); // the first inFlight GETs of the window: one write
      const result = closedLoop(ms, inFlight, (done, slot) => {
        if (failure !== undefined) {
          done(false);
          return;
        }
        const frame = frames[slot];
        // The previous frame of this slot was written before its response came back: rewriting it is safe.
        const next = (sequence[slot] = (sequence[slot] + 1) >>> 0);
        frame.writeUInt32BE(next, tokenOffset + 4);
        waiting[slot] = done;
        sock.write(frame);
      });
      sock.uncork();
      return result;
    },
    async teardown() {
      socket?.destroy();
    },
  };
}
