/**
 * A man-in-the-middle for DTLS tests (`rxcoap/testing`): a loopback UDP proxy between one client and a DTLS
 * server that reads the records passing through and flips one bit where asked: in the ServerKeyExchange
 * signature, in the server's Finished record (epoch 1, so the flip hits its AEAD ciphertext), or in the
 * server's application records. A client that accepts any of these is broken; the same proxy with
 * `tamper: 'none'` must let every handshake through.
 *
 *   client ──► proxy socket ──► upstream socket ──► server
 *   client ◄── proxy socket ◄── upstream socket ◄── server   (tampered here)
 *
 * Node-only (`node:dgram`); `close()` closes both sockets. Loopback addresses only.
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { assertLoopback, bindLoopbackSocket, socketTypeFor, type LoopbackHost } from './loopback';

/** What the proxy changes in the server's datagrams. */
export type DtlsTamper = 'none' | 'server-key-exchange-signature' | 'server-finished' | 'application-data';

/** Options of {@link startDtlsMitmProxy}. */
export interface DtlsMitmProxyOptions {
  /** The DTLS server (loopback). */
  readonly target: { readonly host: string; readonly port: number };
  readonly tamper: DtlsTamper;
  /** How many matching records to tamper with; later ones pass unchanged. @defaultValue every one */
  readonly times?: number;
  readonly host?: LoopbackHost;
}

/** A running proxy. */
export interface DtlsMitmProxy {
  /** Where the client sends to. */
  readonly address: { readonly host: LoopbackHost; readonly port: number };
  /** Records changed so far. */
  readonly tampered: number;
  /** Datagrams forwarded each way. */
  readonly forwarded: { toServer: number; toClient: number };
  close(): Promise<void>;
}

const RECORD_HEADER = 13;
const HANDSHAKE = 22;
const APPLICATION_DATA = 23;
const SERVER_KEY_EXCHANGE = 12;

/**
 * Flips one bit of the first record of `datagram` that `tamper` names; returns true when it did. The datagram
 * is changed in place.
 */
export function tamperDatagram(datagram: Uint8Array, tamper: DtlsTamper): boolean {
  for (let offset = 0; offset + RECORD_HEADER <= datagram.length; ) {
    const type = datagram[offset];
    const epoch = (datagram[offset + 3] << 8) | datagram[offset + 4];
    const length = (datagram[offset + 11] << 8) | datagram[offset + 12];
    const start = offset + RECORD_HEADER;
    const end = start + length;
    if (end > datagram.length) return false;
    if (tamper === 'server-key-exchange-signature' && type === HANDSHAKE && epoch === 0) {
      // walk the handshake fragments of the record; the signature ends the (whole, unfragmented) message
      for (let at = start; at + 12 <= end; ) {
        const messageType = datagram[at];
        const total = (datagram[at + 1] << 16) | (datagram[at + 2] << 8) | datagram[at + 3];
        const fragmentOffset = (datagram[at + 6] << 16) | (datagram[at + 7] << 8) | datagram[at + 8];
        const fragmentLength = (datagram[at + 9] << 16) | (datagram[at + 10] << 8) | datagram[at + 11];
        const bodyEnd = at + 12 + fragmentLength;
        if (messageType === SERVER_KEY_EXCHANGE && fragmentOffset + fragmentLength === total && fragmentLength > 0 && bodyEnd <= end) {
          datagram[bodyEnd - 1] ^= 0x01;
          return true;
        }
        at = bodyEnd;
      }
    }
    if (tamper === 'server-finished' && type === HANDSHAKE && epoch >= 1 && length > 0) {
      datagram[end - 1] ^= 0x01;
      return true;
    }
    if (tamper === 'application-data' && type === APPLICATION_DATA && epoch >= 1 && length > 0) {
      datagram[start + Math.floor(length / 2)] ^= 0x01;
      return true;
    }
    offset = end;
  }
  return false;
}

/** Starts a tampering proxy in front of `target`. */
export async function startDtlsMitmProxy(options: DtlsMitmProxyOptions): Promise<DtlsMitmProxy> {
  const host = assertLoopback(options.host ?? '127.0.0.1', 'the DTLS proxy host');
  const targetHost = assertLoopback(options.target.host, 'the DTLS proxy target');
  const front = createSocket({ type: socketTypeFor(host) });
  const upstream = createSocket({ type: socketTypeFor(targetHost) });
  let client: RemoteInfo | undefined;
  let budget = options.times ?? Infinity;
  const state = { tampered: 0, forwarded: { toServer: 0, toClient: 0 } };
  const port = await bindLoopbackSocket(front, host, 0, (message, remote) => {
    client = remote;
    state.forwarded.toServer++;
    upstream.send(message, options.target.port, targetHost);
  });
  await bindLoopbackSocket(upstream, targetHost, 0, (message, remote) => {
    if (client === undefined || remote.port !== options.target.port) return;
    if (budget > 0 && options.tamper !== 'none' && tamperDatagram(message, options.tamper)) {
      budget--;
      state.tampered++;
    }
    state.forwarded.toClient++;
    front.send(message, client.port, client.address);
  });
  return {
    address: { host, port },
    get tampered() {
      return state.tampered;
    },
    forwarded: state.forwarded,
    close: () =>
      new Promise<void>((resolve) => {
        let open = 2;
        const done = (): void => {
          if (--open === 0) resolve();
        };
        for (const socket of [front, upstream] as Socket[]) {
          try {
            socket.close(done);
          } catch {
            done();
          }
        }
      }),
  };
}
