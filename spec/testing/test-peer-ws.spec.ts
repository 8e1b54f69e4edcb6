/**
 * The test peer's WS and WSS listeners (RFC 8323 §4), seen by a raw `ws` client: the path and subprotocol it
 * takes, one CoAP message per binary message, its CSM, Abort for a text message and for a message over its
 * Max-Message-Size, a clean close, and WSS with a PSK (the identity recorded) and with certificates.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import WebSocket from 'ws';
import { SignalOption } from '../../src/codec/option-numbers';
import { decodeString, decodeUint, encodeUint } from '../../src/codec/option-values';
import { Method, SignalCode, createPdu, getOption, type CoapPdu } from '../../src/codec/pdu';
import { decodeWsMessage, encodeWsMessage } from '../../src/codec/ws-codec';
import { pathToOptions } from '../../src/codec/uri';
import { startTestPeer, type TestPeer } from '../../src/testing/test-peer';

const pki = (name: string): Buffer => readFileSync(join(__dirname, '../fixtures/test-peer-pki', name));
const psk = { identity: 'ws-raw', key: 'ws-raw-secret-key' };

/** A raw client: every binary message decoded, in order. */
class RawWsClient {
  readonly messages: CoapPdu[] = [];
  readonly texts: string[] = [];
  closeCode: number | undefined;
  readonly #waiters: (() => void)[] = [];

  private constructor(readonly socket: WebSocket) {
    socket.on('message', (data: Buffer, isBinary: boolean) => {
      if (isBinary) this.messages.push(decodeWsMessage(new Uint8Array(data.buffer, data.byteOffset, data.length)));
      else this.texts.push(data.toString());
      for (const waiter of this.#waiters.splice(0)) waiter();
    });
    socket.on('close', (code: number) => {
      this.closeCode = code;
      for (const waiter of this.#waiters.splice(0)) waiter();
    });
    socket.on('error', () => undefined);
  }

  static open(url: string, options: WebSocket.ClientOptions = {}, protocol: string | string[] = 'coap'): Promise<RawWsClient> {
    return new Promise((resolve, reject) => {
      const socket = new WebSocket(url, protocol, { perMessageDeflate: false, ...options });
      const client = new RawWsClient(socket);
      socket.once('open', () => resolve(client));
      socket.once('error', reject);
    });
  }

  send(pdu: CoapPdu): void {
    this.socket.send(encodeWsMessage(pdu));
  }

  /** Resolves once `count` messages arrived (or the socket closed). */
  async waitFor(count: number, within = 2000): Promise<CoapPdu[]> {
    const deadline = Date.now() + within;
    while (this.messages.length < count && this.closeCode === undefined && Date.now() < deadline) {
      await new Promise<void>((resolve) => {
        this.#waiters.push(resolve);
        setTimeout(resolve, 50);
      });
    }
    return this.messages;
  }

  async closed(within = 2000): Promise<number | undefined> {
    const deadline = Date.now() + within;
    while (this.closeCode === undefined && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 10));
    return this.closeCode;
  }

  /** Sends our CSM and waits for the peer's. */
  async handshake(): Promise<void> {
    this.send(createPdu({ code: SignalCode.CSM, options: [{ number: SignalOption.MaxMessageSize, value: encodeUint(65536) }] }));
    await this.waitFor(1);
  }
}

const get = (path: string, token = 1): CoapPdu => createPdu({ code: Method.GET, token: Uint8Array.of(token), options: pathToOptions(path) });

describe('test peer over WS and WSS', () => {
  let peer: TestPeer;
  const clients: RawWsClient[] = [];

  beforeEach(async () => {
    peer = await startTestPeer({
      transports: ['ws', 'wss'],
      maxMessageSize: 2048,
      tls: { psk, cert: { cert: pki('server.pem'), key: pki('server-key.pem') } },
      resources: [{ path: '/hello', contentFormat: 0, get: 'world' }],
    });
  });

  afterEach(async () => {
    for (const client of clients.splice(0)) client.socket.terminate();
    await peer.close();
  });

  async function open(transport: 'ws' | 'wss' = 'ws', options: WebSocket.ClientOptions = {}): Promise<RawWsClient> {
    const url = peer.uri('/.well-known/coap', transport).replace(/^coaps?\+ws/, transport);
    const client = await RawWsClient.open(url, options);
    clients.push(client);
    return client;
  }

  it('serves coap+ws:// and coaps+ws:// URIs on their own ports', () => {
    expect(peer.uri('/hello', 'ws')).toBe(`coap+ws://127.0.0.1:${peer.ports.ws}/hello`);
    expect(peer.uri('/hello', 'wss')).toBe(`coaps+ws://127.0.0.1:${peer.ports.wss}/hello`);
    expect(peer.ports.ws).not.toBe(peer.ports.wss);
  });

  it('sends its CSM first, then answers a GET in one binary message with the request token', async () => {
    const client = await open();
    await client.handshake();
    const csm = client.messages[0];
    expect(csm.code).toBe(SignalCode.CSM);
    expect(decodeUint(getOption(csm, SignalOption.MaxMessageSize)!)).toBe(2048);
    client.send(get('/hello', 9));
    const [, response] = await client.waitFor(2);
    expect(response).toMatchObject({ code: 0x45, token: Uint8Array.of(9) });
    expect(decodeString(response.payload)).toBe('world');
    expect(peer.connections.map((connection) => connection.transport)).toEqual(['ws']);
    expect(peer.received.at(-1)).toMatchObject({ transport: 'ws', size: 2 + 1 + 6 });
  });

  it('refuses an upgrade without the coap subprotocol, and a wrong path', async () => {
    const url = `ws://127.0.0.1:${peer.ports.ws}`;
    await expect(RawWsClient.open(`${url}/.well-known/coap`, {}, 'mqtt')).rejects.toThrow(/subprotocol|400/);
    await expect(RawWsClient.open(`${url}/other`)).rejects.toThrow(/400/);
  });

  it('aborts a text message (RFC 8323 §4.2) with a diagnostic, counts it as malformed, and closes', async () => {
    const client = await open();
    await client.handshake();
    client.socket.send('GET /hello');
    const messages = await client.waitFor(2);
    expect(messages[1].code).toBe(SignalCode.Abort);
    expect(decodeString(messages[1].payload)).toContain('text WebSocket message');
    expect(peer.stats.malformed).toBe(1);
    expect(await client.closed()).toBe(1000);
  });

  it('aborts a message larger than its Max-Message-Size, and a malformed one', async () => {
    const big = await open();
    await big.handshake();
    big.send(createPdu({ code: Method.PUT, token: Uint8Array.of(1), options: pathToOptions('/hello'), payload: new Uint8Array(3000) }));
    const bigMessages = await big.waitFor(2);
    expect(bigMessages[1].code).toBe(SignalCode.Abort);
    expect(decodeString(bigMessages[1].payload)).toMatch(/exceeds the maximum message size 2048/);
    const bad = await open();
    await bad.handshake();
    bad.socket.send(Uint8Array.of(0x10, 0x01, 0x00)); // Len 1: must be 0 over WebSockets
    expect((await bad.waitFor(2))[1].code).toBe(SignalCode.Abort);
  });

  it('closes a WebSocket cleanly with close(), and answers Ping with Pong', async () => {
    const client = await open();
    await client.handshake();
    client.send(createPdu({ code: SignalCode.Ping, token: Uint8Array.of(5, 6) }));
    expect((await client.waitFor(2))[1]).toMatchObject({ code: SignalCode.Pong, token: Uint8Array.of(5, 6) });
    peer.connections[0].close();
    expect(await client.closed()).toBe(1000);
  });

  it('serves WSS with a PSK, recording the identity, and with its certificate', async () => {
    const withPsk = await open('wss', {
      ciphers: 'PSK-AES128-GCM-SHA256',
      maxVersion: 'TLSv1.2',
      pskCallback: () => ({ identity: psk.identity, psk: Buffer.from(psk.key) }),
      checkServerIdentity: () => undefined,
    } as unknown as WebSocket.ClientOptions);
    await withPsk.handshake();
    expect(peer.connections.find((connection) => connection.transport === 'wss')?.pskIdentity).toBe(psk.identity);
    const withCert = await open('wss', { ca: pki('ca.pem'), servername: 'localhost' } as WebSocket.ClientOptions);
    await withCert.handshake();
    withCert.send(get('/hello'));
    expect(decodeString((await withCert.waitFor(2))[1].payload)).toBe('world');
  });
});
