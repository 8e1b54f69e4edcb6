/**
 * The raw floor: a `node:dgram` client that sends a pre-encoded CON GET, rewriting only the message ID and the
 * 8-byte token per request, and accepts a response when its MID (piggybacked ACK) and token match. No message
 * layer, no retransmission: what any CoAP client must at least do on this machine. Also a minimal encoder and
 * option walker for the other raw peers (written here from RFC 7252 §3, not taken from a library).
 */
import { createSocket, type Socket } from 'node:dgram';
import { closedLoop, type Contender } from '../measure';

/** RFC 7252 option numbers used by the bench. */
export const Opt = { Observe: 6, UriPath: 11, Block2: 23, Size2: 28 } as const;

/** Encodes one CoAP-over-UDP message (options sorted by the caller; 8-byte or shorter token). */
export function encodeMessage(type: number, code: number, messageId: number, token: Uint8Array, options: readonly (readonly [number, Uint8Array])[], payload?: Uint8Array): Buffer {
  const parts: number[] = [0x40 | (type << 4) | token.length, code, messageId >> 8, messageId & 0xff, ...token];
  let previous = 0;
  for (const [number, value] of options) {
    const delta = number - previous;
    previous = number;
    const nibble = (n: number): number => (n < 13 ? n : n < 269 ? 13 : 14);
    parts.push((nibble(delta) << 4) | nibble(value.length));
    for (const n of [delta, value.length]) {
      if (n >= 269) parts.push((n - 269) >> 8, (n - 269) & 0xff);
      else if (n >= 13) parts.push(n - 13);
    }
    parts.push(...value);
  }
  const head = Buffer.from(parts);
  return payload === undefined || payload.length === 0 ? head : Buffer.concat([head, Buffer.of(0xff), payload]);
}

/** Uri-Path options of `path` ('/a/b' → ['a', 'b']). */
export function pathOptions(path: string): [number, Uint8Array][] {
  return path
    .split('/')
    .filter((segment) => segment !== '')
    .map((segment) => [Opt.UriPath, Buffer.from(segment)]);
}

/** Unsigned big-endian option value. */
export function uintValue(value: number): Uint8Array {
  if (value === 0) return new Uint8Array(0);
  const bytes: number[] = [];
  for (let v = value; v > 0; v = Math.floor(v / 256)) bytes.unshift(v & 0xff);
  return Uint8Array.from(bytes);
}

/**
 * Walks the options of a datagram: calls `visit(number, start, end)` for each; returns the payload offset
 * (datagram length when there is none), or -1 when malformed.
 */
export function walkOptions(buf: Uint8Array, visit: (number: number, start: number, end: number) => void): number {
  let offset = 4 + (buf[0] & 0x0f);
  let number = 0;
  while (offset < buf.length) {
    const byte = buf[offset++];
    if (byte === 0xff) return offset;
    let delta = byte >> 4;
    let length = byte & 0x0f;
    if (delta === 13) delta = 13 + buf[offset++];
    else if (delta === 14) {
      delta = 269 + ((buf[offset] << 8) | buf[offset + 1]);
      offset += 2;
    } else if (delta === 15) return -1;
    if (length === 13) length = 13 + buf[offset++];
    else if (length === 14) {
      length = 269 + ((buf[offset] << 8) | buf[offset + 1]);
      offset += 2;
    } else if (length === 15) return -1;
    number += delta;
    if (offset + length > buf.length) return -1;
    visit(number, offset, offset + length);
    offset += length;
  }
  return buf.length;
}

/** Reads an unsigned option value. */
export function readUint(buf: Uint8Array, start: number, end: number): number {
  let value = 0;
  for (let i = start; i < end; i++) value = value * 256 + buf[i];
  return value;
}

/** A bound, connected dgram socket to `host:port`. */
export function connectedSocket(host: string, port: number): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, '127.0.0.1', () => socket.connect(port, host, () => resolve(socket)));
  });
}

export interface RawGetOptions {
  readonly host: string;
  readonly port: number;
  readonly path: string;
  /** Requests in flight on the one socket. */
  readonly inFlight: number;
}

/** The raw client as a {@link Contender}. */
export function rawGetContender(options: RawGetOptions): Contender {
  let socket: Socket | undefined;
  // Template: CON GET, MID 0, token 8 zero bytes, the path; bytes 2-3 (MID) and 4-11 (token) are rewritten.
  const template = encodeMessage(0, 1, 0, new Uint8Array(8), pathOptions(options.path));
  const waiting: (((ok: boolean) => void) | undefined)[] = new Array(0x10000).fill(undefined);
  const tokens = new Uint32Array(0x10000);
  let nextMid = Math.floor(Math.random() * 0x10000);
  let nextToken = (Math.random() * 0x7fffffff) | 0;
  return {
    name: 'raw dgram',
    async setup() {
      socket = await connectedSocket(options.host, options.port);
      socket.on('message', (msg: Buffer) => {
        // Piggybacked response: ACK (type 2), TKL 8, code not 0.00.
        if (msg.length < 12 || (msg[0] & 0x30) !== 0x20 || msg[1] === 0) return;
        const mid = (msg[2] << 8) | msg[3];
        const done = waiting[mid];
        if (done === undefined || msg.readUInt32BE(4) !== tokens[mid]) return;
        waiting[mid] = undefined;
        done(true);
      });
    },
    window(ms) {
      const sock = socket!;
      return closedLoop(ms, options.inFlight, (done) => {
        const mid = nextMid;
        nextMid = (nextMid + 1) & 0xffff;
        const token = (nextToken = (nextToken + 1) >>> 0);
        const frame = Buffer.from(template);
        frame[2] = mid >> 8;
        frame[3] = mid & 0xff;
        frame.writeUInt32BE(token, 4);
        frame.writeUInt32BE(mid, 8);
        tokens[mid] = token;
        const timer = setTimeout(() => {
          if (waiting[mid] === finish) waiting[mid] = undefined;
          done(false);
        }, 2000);
        const finish = (ok: boolean): void => {
          clearTimeout(timer);
          done(ok);
        };
        waiting[mid] = finish;
        sock.send(frame);
      });
    },
    async teardown() {
      socket?.close();
    },
  };
}
