/**
 * What a test peer connection (`stream-connection.ts`, RFC 8323) writes to and reads from: a TCP/TLS socket
 * carrying a byte stream of §3.2 frames, or a WebSocket carrying one §4.2 message per binary message. The
 * connection's protocol logic (CSM, signals, faults, resources) is the same on both; only this differs.
 */
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';
import type { PeerAddress } from '../errors';

/** How CoAP messages sit on the wire: RFC 8323 §3.2 frames in a byte stream, or §4.2 WebSocket messages. */
export type PeerFraming = 'stream' | 'websocket';

/** What a connection hears from its wire. */
export interface PeerWireHandlers {
  /** A chunk of the byte stream (stream), or one whole binary message (websocket). */
  data(bytes: Uint8Array): void;
  /** The wire refused something before CoAP saw it (a text message over WebSockets). */
  refused(why: string): void;
  /** The connection is gone. */
  close(): void;
}

/** A connection's wire. */
export interface PeerWire {
  readonly framing: PeerFraming;
  readonly remote: PeerAddress;
  /** Starts reading. */
  start(handlers: PeerWireHandlers): void;
  /** True while frames can still be written. */
  readonly writable: boolean;
  /** Writes one frame (stream) or sends one binary message (websocket). */
  write(frame: Uint8Array): void;
  /** The `drop: 'mid-response'` fault: half of `frame`, then the connection is destroyed (a WebSocket: nothing of it). */
  writeHalfThenDestroy(frame: Uint8Array): void;
  /** Holds writes until `uncork` (everything answered for one input leaves together). */
  cork(): void;
  uncork(): void;
  /** Closes our side after what is written (FIN, or a WebSocket close frame); the client closes the rest. */
  end(): void;
  /** Closes after what is written and destroys the connection then (after an Abort). */
  endThenDestroy(): void;
  /** Closes at once. */
  destroy(): void;
}

/** A TCP or TLS socket as a wire. */
export function socketWire(socket: Socket): PeerWire {
  return {
    framing: 'stream',
    remote: { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    start(handlers) {
      socket.setNoDelay(true);
      socket.on('data', (chunk: Buffer) => handlers.data(new Uint8Array(chunk.buffer, chunk.byteOffset, chunk.length)));
      // A reset by the client must not crash the test run; 'close' follows.
      socket.on('error', () => undefined);
      socket.on('close', () => handlers.close());
    },
    get writable() {
      return !socket.destroyed && !socket.writableEnded;
    },
    write(frame) {
      socket.write(frame);
    },
    writeHalfThenDestroy(frame) {
      socket.write(frame.subarray(0, Math.max(1, frame.length >> 1)), () => socket.destroy());
    },
    cork() {
      socket.cork();
    },
    uncork() {
      socket.uncork();
    },
    end() {
      socket.end();
    },
    endThenDestroy() {
      socket.end(() => socket.destroy());
    },
    destroy() {
      socket.destroy();
    },
  };
}

/** A server-side WebSocket (the `ws` package) and the socket under it as a wire. */
export function webSocketWire(webSocket: WebSocket, socket: Socket): PeerWire {
  let closed = false;
  return {
    framing: 'websocket',
    remote: { host: socket.remoteAddress ?? '', port: socket.remotePort ?? 0 },
    start(handlers) {
      webSocket.on('message', (data: Buffer | ArrayBuffer | Buffer[], isBinary: boolean) => {
        if (!isBinary) {
          handlers.refused('text WebSocket message (RFC 8323 §4.2: CoAP goes in binary messages)');
          return;
        }
        const bytes = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
        handlers.data(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.length));
      });
      // A client that breaks the protocol or resets must not crash the test run; 'close' follows.
      webSocket.on('error', () => undefined);
      webSocket.on('close', () => {
        closed = true;
        handlers.close();
      });
    },
    get writable() {
      return !closed && webSocket.readyState === webSocket.OPEN;
    },
    write(frame) {
      webSocket.send(frame, { binary: true });
    },
    writeHalfThenDestroy() {
      // ws cannot send part of a message: the connection just goes.
      webSocket.terminate();
    },
    cork() {
      socket.cork();
    },
    uncork() {
      socket.uncork();
    },
    end() {
      webSocket.close(1000);
    },
    endThenDestroy() {
      webSocket.close(1000);
    },
    destroy() {
      webSocket.terminate();
    },
  };
}
