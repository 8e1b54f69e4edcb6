/**
 * The test peer's Unix datagram socket (libcoap `coap-server -U coap -A path`): the datagram half of the
 * {@link UdpListener} on a socket path instead of a UDP port, so both serve with one message layer. The socket
 * comes from the optional `unix-dgram` package (as the client transport's does); the path is claimed like the
 * client's (a path in use is refused, a stale socket reclaimed) and removed on close.
 */
import type { UnixPeerAddress } from '../errors';
import { unixDgramModule } from '../transport/unix-dgram';
import { checkUnixPath, claimUnixPath, releaseUnixPath, trackUnixPath } from '../transport/unix-path';

/** What `unix-dgram`'s socket offers the listener (see `transport/unix-dgram.ts`). */
type Socket = ReturnType<ReturnType<typeof unixDgramModule>['createSocket']>;

/** A bound Unix datagram socket: datagrams in with their sender's path, datagrams out to a path. */
export class UnixDatagramSocket {
  readonly path: string;
  #socket: Socket | undefined;
  #bound = false;

  /** @throws CoapArgumentError for a bad path, or when `unix-dgram` is missing */
  constructor(path: string) {
    this.path = checkUnixPath(path, 'unixPath');
    unixDgramModule();
  }

  /** Claims and binds the path; `onMessage` gets every datagram from a named sender (an unnamed one cannot be answered). */
  bind(onMessage: (message: Buffer, source: UnixPeerAddress) => void): Promise<void> {
    return new Promise((resolve, reject) => {
      claimUnixPath(this.path, (error) => {
        if (error !== undefined) {
          reject(error);
          return;
        }
        const socket = unixDgramModule().createSocket('unix_dgram');
        let failed: Error | undefined;
        socket.on('error', (bindError) => {
          failed ??= bindError;
        });
        socket.on('congestion', () => undefined);
        socket.on('writable', () => undefined);
        socket.bind(this.path);
        if (failed !== undefined) {
          socket.close();
          reject(failed);
          return;
        }
        this.#socket = socket;
        this.#bound = true;
        trackUnixPath(this.path);
        socket.on('message', (message, info) => {
          if (info.path !== null && info.path !== '') onMessage(message, { path: info.path });
        });
        resolve();
      });
    });
  }

  /** Sends one datagram to `path` (a client that went away is no error for a test server). */
  send(bytes: Uint8Array, path: string): void {
    const buffer = Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.length);
    this.#socket?.send(buffer, 0, buffer.length, path);
  }

  /** Closes the socket and removes the path. */
  close(): Promise<void> {
    const socket = this.#socket;
    this.#socket = undefined;
    if (socket !== undefined) {
      socket.removeAllListeners('message');
      try {
        socket.close();
      } catch {
        // closed already
      }
    }
    if (this.#bound) releaseUnixPath(this.path);
    this.#bound = false;
    return Promise.resolve();
  }
}
