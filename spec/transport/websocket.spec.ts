import { createServer as createNetServer, Socket as NetSocket } from 'node:net';
import { createServer as createHttpServer, type Server } from 'node:http';
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import type { TLSSocket, TlsOptions } from 'node:tls';
import { firstValueFrom, lastValueFrom, take, toArray, VirtualTimeScheduler, type Subscription } from 'rxjs';
import { SignalCode } from '../../src/codec/pdu';
import { decodeWsMessage } from '../../src/codec/ws-codec';
import { CoapArgumentError, CoapTlsError, CoapTransportError } from '../../src/errors';
import type { Transport, TransportEvent, TransportFactory } from '../../src/transport/transport';
import { webSocketTransport, webSocketUrl, type WebSocketConstructor, type WebSocketLike } from '../../src/transport/websocket';
import { wsTransport } from '../../src/transport/websocket-node';
import { describeTransportContract } from './transport-contract';
import { startWsPeer, wsContract, wsCsm, wsPing, type WsPeer } from './ws-test-peer';

const PKI = join(__dirname, '..', 'fixtures', 'pki');
const pkiFile = (name: string): string => join(PKI, name);
const KEY = 'wss-psk-secret';
const PSK_SERVER: TlsOptions = {
  pskCallback: (_socket: TLSSocket, identity: string) => (identity === 'rxcoap' ? Buffer.from(KEY) : null),
  ciphers: 'PSK-AES128-GCM-SHA256:PSK-AES256-GCM-SHA384',
  maxVersion: 'TLSv1.2',
};
const CERT_SERVER: TlsOptions = { cert: readFileSync(pkiFile('server.pem')), key: readFileSync(pkiFile('server.key')) };
const trusted = { pkiKey: { caFile: pkiFile('ca.pem') } };

let contractPeer: WsPeer | undefined;
const closeContractPeer = async (): Promise<void> => {
  await contractPeer?.close();
};
describeTransportContract(
  'ws (ws peer on 127.0.0.1)',
  async () => {
    contractPeer = await startWsPeer();
    return { ...wsContract, factory: wsTransport({ host: '127.0.0.1', port: contractPeer.port }) };
  },
  closeContractPeer,
);

describeTransportContract(
  'wss-psk (ws peer over node:tls PSK)',
  async () => {
    contractPeer = await startWsPeer({ tls: PSK_SERVER });
    return { ...wsContract, factory: wsTransport({ secure: true, host: '127.0.0.1', port: contractPeer.port, psk: { identity: 'rxcoap', key: KEY } }) };
  },
  closeContractPeer,
);

describeTransportContract(
  'wss-pki (ws peer with a certificate)',
  async () => {
    contractPeer = await startWsPeer({ tls: CERT_SERVER });
    return { ...wsContract, factory: wsTransport({ secure: true, host: 'localhost', port: contractPeer.port, pki: trusted }) };
  },
  closeContractPeer,
);

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** A TCP port with nothing listening on it. */
async function closedPort(): Promise<number> {
  const server = createNetServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

describe('WebSocket transport (Node, ws)', () => {
  const subscriptions: Subscription[] = [];
  const peers: WsPeer[] = [];
  const servers: Server[] = [];

  afterEach(async () => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    for (const peer of peers.splice(0)) await peer.close();
    for (const server of servers.splice(0)) {
      server.closeAllConnections();
      server.close();
    }
  });

  async function peer(options: Parameters<typeof startWsPeer>[0] = {}): Promise<WsPeer> {
    const started = await startWsPeer(options);
    peers.push(started);
    return started;
  }

  /** Subscribes; resolves with the transport and a promise of the factory's later error. */
  function open(factory: TransportFactory): Promise<{ transport: Transport; failed: Promise<unknown>; close: () => void }> {
    return new Promise((resolve, reject) => {
      let settle: (error: unknown) => void = () => undefined;
      const failed = new Promise<unknown>((done) => (settle = done));
      let opened = false;
      const subscription = factory().subscribe({
        next: (transport) => {
          opened = true;
          resolve({ transport, failed, close: () => subscription.unsubscribe() });
        },
        error: (error) => (opened ? settle(error) : reject(error)),
      });
      subscriptions.push(subscription);
    });
  }

  const failure = (factory: TransportFactory): Promise<unknown> => open(factory).then(
    ({ failed }) => failed,
    (error: unknown) => error,
  );

  it('opens ws://host:port/.well-known/coap with subprotocol coap, no extension and short header lines', async () => {
    const server = await peer();
    const { transport } = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    const connection = await server.nextConnection();
    expect(transport).toMatchObject({ reliable: true, framing: 'websocket', maxFrameOverhead: 0, remote: { host: '127.0.0.1', port: server.port } });
    expect(transport.local).toEqual({ host: '127.0.0.1', port: connection.socket.remotePort });
    expect(connection.request.url).toBe('/.well-known/coap');
    expect(connection.request.headers['sec-websocket-protocol']).toBe('coap');
    expect(connection.request.headers['sec-websocket-extensions']).toBeUndefined();
    // libcoap 4.3.4 answers 400 to a header line of 80 characters or more.
    for (let i = 0; i < connection.request.rawHeaders.length; i += 2) {
      expect(`${connection.request.rawHeaders[i]}: ${connection.request.rawHeaders[i + 1]}`.length).toBeLessThan(80);
    }
    expect(connection.webSocket.protocol).toBe('coap');
  });

  it('carries one CoAP message per binary message, both ways', async () => {
    const server = await peer();
    const { transport } = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    const answers = firstValueFrom(transport.frames$.pipe(take(2), toArray()));
    transport.send(wsCsm());
    transport.send(wsPing(7));
    const [csm, pong] = (await answers).map((frame) => decodeWsMessage(frame));
    expect(csm.code).toBe(SignalCode.CSM);
    expect(pong).toMatchObject({ code: SignalCode.Pong, token: Uint8Array.of(0, 7) });
    const connection = await server.nextConnection();
    expect(connection.messages.map((pdu) => pdu.code)).toEqual([SignalCode.CSM, SignalCode.Ping]);
  });

  it('sends the messages of one tick in one socket write (each its own WebSocket frame)', async () => {
    const server = await peer();
    const { transport } = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    const connection = await server.nextConnection();
    const pongs = firstValueFrom(transport.frames$.pipe(take(4), toArray()));
    // Counts the socket writes (each one write request to libuv) of the tick that sends.
    const proto = NetSocket.prototype as unknown as Record<'_write' | '_writev', (...args: unknown[]) => unknown>;
    const originals = { _write: proto._write, _writev: proto._writev };
    let writes = 0;
    for (const name of ['_write', '_writev'] as const) {
      proto[name] = function (this: unknown, ...args: unknown[]) {
        writes++;
        return originals[name].apply(this, args);
      };
    }
    try {
      transport.send(wsCsm());
      for (const mid of [1, 2, 3]) transport.send(wsPing(mid));
      await Promise.resolve();
      await new Promise((resolve) => setImmediate(resolve));
    } finally {
      proto._write = originals._write;
      proto._writev = originals._writev;
    }
    expect(writes).toBe(1);
    await pongs;
    expect(connection.messages.map((pdu) => pdu.code)).toEqual([SignalCode.CSM, SignalCode.Ping, SignalCode.Ping, SignalCode.Ping]);
  });

  it("keeps the server's first message, sent as the WebSocket opens, for the first frames$ subscriber", async () => {
    const server = await peer({ csmFirst: true, answer: false });
    const { transport } = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    await delay(50);
    const first = await firstValueFrom(transport.frames$);
    expect(decodeWsMessage(first).code).toBe(SignalCode.CSM);
  });

  it('fails with reason non-binary-frame when the server sends a text message, and closes with 1003', async () => {
    const server = await peer();
    const { failed } = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    const connection = await server.nextConnection();
    connection.webSocket.send('hello');
    const error = await failed;
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ reason: 'non-binary-frame', peer: { host: '127.0.0.1', port: server.port } });
    expect(await connection.closed).toBe(1003);
  });

  it('fails with reason frame-too-large for a message over maxPayload, before buffering it', async () => {
    const server = await peer();
    const { failed } = await open(wsTransport({ host: '127.0.0.1', port: server.port, maxPayload: 1024 }));
    const connection = await server.nextConnection();
    connection.webSocket.send(new Uint8Array(2000));
    expect(await failed).toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'frame-too-large' });
  });

  it('fails with reason closed-by-peer when the server closes the WebSocket, or the connection', async () => {
    const server = await peer();
    const first = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    (await server.nextConnection()).webSocket.close(1001, 'going away');
    expect(await first.failed).toMatchObject({ reason: 'closed-by-peer', message: `127.0.0.1:${server.port} closed the WebSocket (close code 1001: going away)` });
    const second = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    (await server.nextConnection()).socket.destroy();
    expect(await second.failed).toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: expect.stringMatching(/^(closed-by-peer|reset)$/) });
  });

  it('fails at once with reason refused when nothing listens', async () => {
    const port = await closedPort();
    const error = await failure(wsTransport({ host: '127.0.0.1', port }));
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ reason: 'refused', syscallCode: 'ECONNREFUSED', message: `nothing listens on 127.0.0.1:${port} (connection refused)` });
  });

  it('fails with reason handshake-rejected and the HTTP status when the upgrade is refused (a wrong path)', async () => {
    const server = await peer();
    const error = await failure(wsTransport({ host: '127.0.0.1', port: server.port, path: '/not-coap' }));
    expect(error).toMatchObject({ reason: 'handshake-rejected' });
    expect((error as Error).message).toMatch(/HTTP 400/);
  });

  it('fails with reason bad-subprotocol when the server selects no subprotocol', async () => {
    const server = await peer({ selectProtocol: false });
    expect(await failure(wsTransport({ host: '127.0.0.1', port: server.port }))).toMatchObject({ reason: 'bad-subprotocol' });
  });

  it('fails with reason connect-timeout when the upgrade is never answered (on the scheduler)', async () => {
    const silent = createHttpServer(() => undefined);
    silent.on('upgrade', () => undefined);
    servers.push(silent);
    await new Promise<void>((resolve) => silent.listen(0, '127.0.0.1', resolve));
    const port = (silent.address() as { port: number }).port;
    const scheduler = new VirtualTimeScheduler();
    const errors: unknown[] = [];
    subscriptions.push(wsTransport({ host: '127.0.0.1', port, connectTimeout: 3000, scheduler })().subscribe({ error: (e) => errors.push(e) }));
    await delay(50);
    scheduler.flush();
    expect(errors).toEqual([expect.objectContaining({ reason: 'connect-timeout', message: `opening the WebSocket to 127.0.0.1:${port} timed out after 3000 ms` })]);
  });

  it('closes with 1000 on unsubscribe, after what this tick sent; later sends are no-ops', async () => {
    const server = await peer({ answer: false });
    const { transport, close } = await open(wsTransport({ host: '127.0.0.1', port: server.port }));
    const connection = await server.nextConnection();
    transport.send(wsPing(9));
    close();
    expect(await connection.closed).toBe(1000);
    expect(connection.messages.map((pdu) => pdu.code)).toEqual([SignalCode.Ping]);
    expect(() => transport.send(wsPing(10))).not.toThrow();
  });

  it('refuses bad options with CoapArgumentError naming the field', () => {
    const cases: [unknown, string][] = [
      [{ host: '', port: 80 }, 'host'],
      [{ host: '127.0.0.1', port: 0 }, 'port'],
      [{ host: '127.0.0.1', port: 80, maxPayload: 1 }, 'maxPayload'],
      [{ host: '127.0.0.1', port: 80, path: 'no-slash' }, 'path'],
      [{ host: '127.0.0.1', port: 80, connectTimeout: 0 }, 'connectTimeout'],
      [{ host: '127.0.0.1', port: 443, secure: true, psk: { identity: 'a', key: 'b' }, pki: {} }, 'pki'],
    ];
    for (const [options, field] of cases) {
      let error: unknown;
      try {
        wsTransport(options as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CoapArgumentError);
      expect(error).toMatchObject({ field });
    }
  });

  describe('over TLS (coaps+ws)', () => {
    it('verifies the certificate against pki.pkiKey.caFile and connects without ALPN coap', async () => {
      const server = await peer({ tls: CERT_SERVER });
      const { transport } = await open(wsTransport({ secure: true, host: 'localhost', port: server.port, pki: trusted }));
      const connection = await server.nextConnection();
      expect((connection.socket as TLSSocket).alpnProtocol).toBe(false);
      expect((connection.socket as TLSSocket).servername).toBe('localhost');
      const pong = firstValueFrom(transport.frames$);
      transport.send(wsPing(3));
      expect(decodeWsMessage(await pong).code).toBe(SignalCode.Pong);
    });

    it('rejects a server whose CA is not trusted with CoapTlsError untrusted, before sending the upgrade request', async () => {
      const server = await peer({ tls: CERT_SERVER });
      const error = await failure(wsTransport({ secure: true, host: 'localhost', port: server.port, pki: { pkiKey: { caFile: pkiFile('other-ca.pem') } } }));
      expect(error).toBeInstanceOf(CoapTlsError);
      expect(error).toMatchObject({ code: 'COAP_ERR_TLS', reason: 'untrusted' });
      await delay(30);
      expect(server.requests).toHaveLength(0);
    });

    it('rejects a certificate for another name with CoapTlsError name-mismatch', async () => {
      const server = await peer({ tls: { cert: readFileSync(pkiFile('wrong-name.pem')), key: readFileSync(pkiFile('wrong-name.key')) } });
      expect(await failure(wsTransport({ secure: true, host: 'localhost', port: server.port, pki: trusted }))).toMatchObject({ reason: 'name-mismatch' });
    });

    it('connects with a PSK (TLS 1.2), and fails a wrong key with CoapTlsError bad-psk without the key in the message', async () => {
      const server = await peer({ tls: PSK_SERVER });
      const { transport } = await open(wsTransport({ secure: true, host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: KEY } }));
      expect(transport.framing).toBe('websocket');
      expect(((await server.nextConnection()).socket as TLSSocket).getCipher().name).toBe('PSK-AES128-GCM-SHA256');
      const error = await failure(wsTransport({ secure: true, host: '127.0.0.1', port: server.port, psk: { identity: 'rxcoap', key: 'not-the-key' } }));
      expect(error).toMatchObject({ code: 'COAP_ERR_TLS', reason: 'bad-psk' });
      expect((error as Error).message).not.toContain('not-the-key');
    });

    it('warns on events$ when verifyPeerCert is false', async () => {
      const server = await peer({ tls: CERT_SERVER });
      const { transport } = await open(wsTransport({ secure: true, host: 'localhost', port: server.port, pki: { verifyPeerCert: false } }));
      const events: TransportEvent[] = await lastValueFrom(transport.events$.pipe(toArray()));
      expect(events).toEqual([expect.objectContaining({ type: 'warning', message: expect.stringContaining('WSS server') })]);
    });
  });
});

/**
 * The browser's side of the transport: a WHATWG-style WebSocket that says nothing about failures (an error event
 * without a cause, then a close event with its code), driven by hand.
 */
class FakeBrowserWebSocket implements WebSocketLike {
  static last: FakeBrowserWebSocket | undefined;
  binaryType = 'blob';
  protocol = '';
  readyState = 0;
  onopen: ((event: unknown) => void) | null = null;
  onmessage: ((event: { data: unknown }) => void) | null = null;
  onerror: ((event: unknown) => void) | null = null;
  onclose: ((event: { code: number; reason: string }) => void) | null = null;
  readonly sent: Uint8Array[] = [];
  closedWith: number | undefined;
  constructor(
    readonly url: string,
    readonly protocols: string | string[],
    readonly options?: unknown,
  ) {
    FakeBrowserWebSocket.last = this;
  }
  send(data: Uint8Array): void {
    this.sent.push(data);
  }
  close(code?: number): void {
    this.closedWith = code;
  }
  open(protocol = 'coap'): void {
    this.protocol = protocol;
    this.readyState = 1;
    this.onopen?.({});
  }
  /** The peer's close frame arrived: the browser says CLOSING until its close event. */
  peerClosing(): void {
    this.readyState = 2;
  }
}

describe('WebSocket transport (the browser-safe core, no connector)', () => {
  const browser = (scheduler = new VirtualTimeScheduler()) =>
    webSocketTransport({ WebSocket: FakeBrowserWebSocket as unknown as WebSocketConstructor, host: 'example.org', port: 443, secure: true, scheduler });

  it('builds the URL of RFC 8323 §8.3 and asks for the coap subprotocol and ArrayBuffers', () => {
    const subscription = browser()().subscribe();
    const socket = FakeBrowserWebSocket.last!;
    expect(socket.url).toBe('wss://example.org:443/.well-known/coap');
    expect(socket.protocols).toBe('coap');
    expect(socket.options).toBeUndefined();
    expect(socket.binaryType).toBe('arraybuffer');
    subscription.unsubscribe();
    expect(socket.closedWith).toBe(1000);
    expect(webSocketUrl(false, '::1', 8080)).toBe('ws://[::1]:8080/.well-known/coap');
  });

  it('emits once open, takes ArrayBuffer messages, and keeps early ones for the first subscriber', () => {
    const transports: Transport[] = [];
    browser()().subscribe((transport) => transports.push(transport));
    const socket = FakeBrowserWebSocket.last!;
    socket.open();
    socket.onmessage?.({ data: Uint8Array.of(0x00, 0xe1, 0x02, 0x04, 0x80).buffer });
    expect(transports).toHaveLength(1);
    const frames: Uint8Array[] = [];
    transports[0].frames$.subscribe((frame) => frames.push(frame));
    expect(frames).toEqual([Uint8Array.of(0x00, 0xe1, 0x02, 0x04, 0x80)]);
    transports[0].send(Uint8Array.of(1, 2, 3));
    expect(socket.sent).toEqual([Uint8Array.of(1, 2, 3)]);
    expect(transports[0].local).toEqual({ host: '', port: 0 });
  });

  it('drops a send once the WebSocket is closing (the peer closed first): nothing is handed to the browser', () => {
    const transports: Transport[] = [];
    browser()().subscribe((transport) => transports.push(transport));
    const socket = FakeBrowserWebSocket.last!;
    socket.open();
    transports[0].send(Uint8Array.of(1));
    socket.peerClosing();
    expect(() => transports[0].send(Uint8Array.of(2))).not.toThrow();
    expect(socket.sent).toEqual([Uint8Array.of(1)]);
  });

  it('fails with connect-failed when the browser closes before opening (it says no more)', () => {
    const errors: unknown[] = [];
    browser()().subscribe({ error: (e) => errors.push(e) });
    const socket = FakeBrowserWebSocket.last!;
    socket.onerror?.({ type: 'error' });
    expect(errors).toEqual([]);
    socket.onclose?.({ code: 1006, reason: '' });
    expect(errors).toEqual([expect.objectContaining({ code: 'COAP_ERR_TRANSPORT', reason: 'connect-failed' })]);
  });

  it.each([
    [1009, 'frame-too-large'],
    [1002, 'protocol-error'],
    [1000, 'closed-by-peer'],
    [1006, 'closed-by-peer'],
  ])('reads close code %d after opening as reason %s', (code, reason) => {
    const errors: unknown[] = [];
    browser()().subscribe({ error: (e) => errors.push(e) });
    FakeBrowserWebSocket.last!.open();
    FakeBrowserWebSocket.last!.onclose?.({ code, reason: '' });
    expect(errors).toEqual([expect.objectContaining({ reason })]);
  });

  it('fails a server that selected another subprotocol, and a text message, closing with 1002 / 1003', () => {
    const errors: unknown[] = [];
    browser()().subscribe({ error: (e) => errors.push(e) });
    const wrong = FakeBrowserWebSocket.last!;
    wrong.open('mqtt');
    expect(errors).toEqual([expect.objectContaining({ reason: 'bad-subprotocol' })]);
    expect(wrong.closedWith).toBe(1002);
    browser()().subscribe({ error: (e) => errors.push(e) });
    const text = FakeBrowserWebSocket.last!;
    text.open();
    text.onmessage?.({ data: 'hello' });
    expect(errors[1]).toMatchObject({ reason: 'non-binary-frame' });
    expect(text.closedWith).toBe(1003);
  });

  it('times out on the scheduler while opening', () => {
    const scheduler = new VirtualTimeScheduler();
    const errors: unknown[] = [];
    browser(scheduler)().subscribe({ error: (e) => errors.push(e) });
    scheduler.flush();
    expect(errors).toEqual([expect.objectContaining({ reason: 'connect-timeout' })]);
    expect(FakeBrowserWebSocket.last!.closedWith).toBe(1000);
  });

  it('turns a throwing constructor into a CoapTransportError, and refuses a missing constructor at once', () => {
    const Throwing = function (): never {
      throw new SyntaxError('bad URL');
    } as unknown as WebSocketConstructor;
    const errors: unknown[] = [];
    webSocketTransport({ WebSocket: Throwing, host: 'h', port: 1 })().subscribe({ error: (e) => errors.push(e) });
    expect(errors).toEqual([expect.objectContaining({ reason: 'error', message: expect.stringContaining('bad URL') })]);
    expect(() => webSocketTransport({ WebSocket: undefined as never, host: 'h', port: 1 })).toThrow(CoapArgumentError);
  });
});
