/**
 * A small RFC 8323 §4 peer for the WebSocket transport specs: an HTTP or HTTPS server on 127.0.0.1 port 0 with a
 * `ws` server on /.well-known/coap that selects the coap subprotocol, answers a CSM with a CSM and a 7.02 Ping
 * with a 7.03 Pong of the same token, and records what it received (messages, the raw socket's 'data' chunks,
 * the upgrade request). Faults are the specs' own business: they get every WebSocket and socket.
 */
import { createServer as createHttpServer, type IncomingMessage, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { Socket } from 'node:net';
import type { TlsOptions } from 'node:tls';
import { WebSocketServer, type WebSocket } from 'ws';
import { createPdu, SignalCode, type CoapPdu } from '../../src/codec/pdu';
import { decodeWsMessage, encodeWsMessage } from '../../src/codec/ws-codec';
import { closeWebSocketServer } from '../../src/testing/ws-listener';

/** One accepted WebSocket. */
export interface WsPeerConnection {
  readonly webSocket: WebSocket;
  /** The upgrade request (its headers). */
  readonly request: IncomingMessage;
  readonly socket: Socket;
  /** Every 'data' chunk of the socket after the upgrade, in order. */
  readonly chunks: Buffer[];
  /** Every binary message received, decoded. */
  readonly messages: CoapPdu[];
  /** Resolves with the close code the client sent. */
  readonly closed: Promise<number>;
}

export interface WsPeer {
  readonly port: number;
  readonly connections: WsPeerConnection[];
  /** HTTP requests that reached the server (upgrades or not). */
  readonly requests: IncomingMessage[];
  /** Errors of TLS handshakes (`tlsClientError`). */
  readonly handshakeErrors: Error[];
  nextConnection(): Promise<WsPeerConnection>;
  close(): Promise<void>;
}

export interface WsPeerOptions {
  /** Serve WSS with these TLS options; plain WS when absent. */
  readonly tls?: TlsOptions;
  /** Answer CSM and Ping. @defaultValue true */
  readonly answer?: boolean;
  /** Send a CSM as soon as the WebSocket opens (before the client's). @defaultValue false */
  readonly csmFirst?: boolean;
  /** The subprotocol to select; false selects none. @defaultValue 'coap' when offered */
  readonly selectProtocol?: string | false;
}

/** A CSM with Max-Message-Size 1152 (libcoap's WS server drops messages of 2 bytes or less). */
export function wsCsm(): Uint8Array {
  return encodeWsMessage(createPdu({ code: SignalCode.CSM, options: [{ number: 2, value: Uint8Array.of(0x04, 0x80) }] }));
}

/** A Ping whose 2-byte token is `mid`. */
export function wsPing(mid: number): Uint8Array {
  return encodeWsMessage(createPdu({ code: SignalCode.Ping, token: Uint8Array.of(mid >> 8, mid & 0xff) }));
}

/** The contract's round trip over WebSockets (Ping out, Pong with the same token back): the public one. */
export { webSocketPingContract as wsContract } from '../../src/testing/transport-contract';

/** Starts the peer on 127.0.0.1 port 0. */
export async function startWsPeer(options: WsPeerOptions = {}): Promise<WsPeer> {
  const connections: WsPeerConnection[] = [];
  const requests: IncomingMessage[] = [];
  const handshakeErrors: Error[] = [];
  const waiting: ((connection: WsPeerConnection) => void)[] = [];
  let taken = 0;
  const answer = options.answer ?? true;
  let server: Server;
  if (options.tls === undefined) server = createHttpServer();
  else {
    const https = createHttpsServer(options.tls);
    https.on('tlsClientError', (error) => handshakeErrors.push(error));
    server = https;
  }
  server.on('request', (request: IncomingMessage, response) => {
    requests.push(request);
    response.writeHead(404).end();
  });
  server.on('upgrade', (request: IncomingMessage) => requests.push(request));
  const select = options.selectProtocol;
  const webSockets = new WebSocketServer({
    server,
    path: '/.well-known/coap',
    perMessageDeflate: false,
    handleProtocols: (protocols) => (select === false ? false : select !== undefined ? select : protocols.has('coap') ? 'coap' : false),
  });
  webSockets.on('connection', (webSocket: WebSocket, request: IncomingMessage) => {
    const socket = request.socket;
    const chunks: Buffer[] = [];
    const messages: CoapPdu[] = [];
    socket.on('data', (chunk: Buffer) => chunks.push(chunk));
    webSocket.on('error', () => undefined);
    const closed = new Promise<number>((resolve) => webSocket.once('close', (code: number) => resolve(code)));
    webSocket.on('message', (data: Buffer, isBinary: boolean) => {
      if (!isBinary) return;
      let pdu: CoapPdu;
      try {
        pdu = decodeWsMessage(new Uint8Array(data.buffer, data.byteOffset, data.length));
      } catch {
        webSocket.terminate();
        return;
      }
      messages.push(pdu);
      if (!answer) return;
      if (pdu.code === SignalCode.CSM && options.csmFirst !== true) webSocket.send(wsCsm());
      else if (pdu.code === SignalCode.Ping) webSocket.send(encodeWsMessage(createPdu({ code: SignalCode.Pong, token: pdu.token })));
    });
    if (options.csmFirst === true) webSocket.send(wsCsm());
    const connection: WsPeerConnection = { webSocket, request, socket, chunks, messages, closed };
    connections.push(connection);
    const waiter = waiting.shift();
    if (waiter !== undefined) {
      taken++;
      waiter(connection);
    }
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  return {
    port,
    connections,
    requests,
    handshakeErrors,
    nextConnection() {
      if (taken < connections.length) return Promise.resolve(connections[taken++]);
      return new Promise((resolve) => waiting.push(resolve));
    },
    close() {
      return closeWebSocketServer(server, webSockets);
    },
  };
}
