/**
 * A small RFC 8323 peer for the tcp and tls transport specs: a node:net or node:tls server on 127.0.0.1
 * port 0 that answers a CSM with a CSM and a 7.02 Ping with a 7.03 Pong of the same token, and records what
 * it received, 'data' event by 'data' event. Faults are the specs' own business: they get every socket.
 */
import { createServer as createNetServer, type Server, type Socket } from 'node:net';
import { createServer as createTlsServer, type TlsOptions } from 'node:tls';
import { createPdu, SignalCode, type CoapPdu } from '../../src/codec/pdu';
import { encodeStreamFrame, StreamDeframer } from '../../src/codec/stream-codec';
import { streamPingContract } from '../../src/testing/transport-contract';

/** One accepted connection. */
export interface PeerConnection {
  readonly socket: Socket;
  /** Every 'data' event's chunk, in order. */
  readonly chunks: Buffer[];
  /** Every complete message received. */
  readonly messages: CoapPdu[];
  /** Resolves when the client's FIN arrived ('end'). */
  readonly ended: Promise<void>;
  /** Resolves when the socket closed. */
  readonly closed: Promise<void>;
}

export interface StreamPeer {
  readonly port: number;
  readonly connections: PeerConnection[];
  /** Resolves with the next accepted connection (or the first one not yet taken). */
  nextConnection(): Promise<PeerConnection>;
  /** Errors of TLS handshakes the server saw (`tlsClientError`). */
  readonly handshakeErrors: Error[];
  close(): Promise<void>;
}

export interface StreamPeerOptions {
  /** Serve TLS with these options (certificates, PSK, requestCert ...); plain TCP when absent. */
  readonly tls?: TlsOptions;
  /** Answer CSM and Ping. @defaultValue true */
  readonly answer?: boolean;
}

/** Starts the peer on 127.0.0.1 port 0. */
export async function startStreamPeer(options: StreamPeerOptions = {}): Promise<StreamPeer> {
  const connections: PeerConnection[] = [];
  const handshakeErrors: Error[] = [];
  const waiting: ((connection: PeerConnection) => void)[] = [];
  let taken = 0;
  const answer = options.answer ?? true;

  const onSocket = (socket: Socket): void => {
    const chunks: Buffer[] = [];
    const messages: CoapPdu[] = [];
    const deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
    const ended = new Promise<void>((resolve) => socket.once('end', () => resolve()));
    const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));
    socket.on('error', () => undefined);
    socket.on('data', (chunk: Buffer) => {
      chunks.push(chunk);
      let pdus: CoapPdu[];
      try {
        pdus = deframer.push(chunk);
      } catch {
        socket.destroy();
        return;
      }
      for (const pdu of pdus) {
        messages.push(pdu);
        if (!answer) continue;
        if (pdu.code === SignalCode.CSM) socket.write(csm());
        else if (pdu.code === SignalCode.Ping) socket.write(encodeStreamFrame(createPdu({ code: SignalCode.Pong, token: pdu.token })));
      }
    });
    const connection: PeerConnection = { socket, chunks, messages, ended, closed };
    connections.push(connection);
    const waiter = waiting.shift();
    if (waiter !== undefined) {
      taken++;
      waiter(connection);
    }
  };

  let server: Server;
  if (options.tls === undefined) {
    server = createNetServer(onSocket);
  } else {
    const tlsServer = createTlsServer(options.tls, onSocket);
    tlsServer.on('tlsClientError', (error) => handshakeErrors.push(error));
    server = tlsServer;
  }
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;

  return {
    port,
    connections,
    handshakeErrors,
    nextConnection() {
      if (taken < connections.length) return Promise.resolve(connections[taken++]);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close() {
      for (const { socket } of connections) socket.destroy();
      return new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A CSM with Max-Message-Size 1152 (libcoap's WS server drops empty ones; ours need not be empty either). */
export function csm(): Uint8Array {
  return encodeStreamFrame(createPdu({ code: SignalCode.CSM, options: [{ number: 2, value: Uint8Array.of(0x04, 0x80) }] }));
}

/** A Ping whose 2-byte token is `mid` (byte streams have no message IDs). */
export function ping(mid: number): Uint8Array {
  return encodeStreamFrame(createPdu({ code: SignalCode.Ping, token: Uint8Array.of(mid >> 8, mid & 0xff) }));
}

/** The contract's round trip on a byte stream: Ping out, Pong with the same token back, CSMs dropped. */
export const streamContract = streamPingContract;

/** Splits a byte stream into its messages. */
export function messagesOf(...chunks: Uint8Array[]): CoapPdu[] {
  const deframer = new StreamDeframer({ maxMessageSize: 1 << 20 });
  return chunks.flatMap((chunk) => deframer.push(chunk));
}
