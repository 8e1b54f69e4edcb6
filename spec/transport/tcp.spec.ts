import { createServer } from 'node:net';
import { firstValueFrom, lastValueFrom, take, VirtualTimeScheduler, type Subscription } from 'rxjs';
import { createPdu, SignalCode } from '../../src/codec/pdu';
import { encodeStreamFrame } from '../../src/codec/stream-codec';
import { CoapArgumentError, CoapTransportError } from '../../src/errors';
import { tcpTransport } from '../../src/transport/tcp';
import type { Transport, TransportFactory } from '../../src/transport/transport';
import { describeTransportContract } from './transport-contract';
import { csm, messagesOf, ping, startStreamPeer, streamContract, type StreamPeer } from './stream-test-peer';

let contractPeer: StreamPeer | undefined;
describeTransportContract(
  'tcp (stream peer on 127.0.0.1)',
  async () => {
    contractPeer = await startStreamPeer();
    return { ...streamContract, factory: tcpTransport({ host: '127.0.0.1', port: contractPeer.port }) };
  },
  async () => {
    await contractPeer?.close();
  },
);

describeTransportContract(
  'tcp (stream peer, host name localhost)',
  async () => {
    contractPeer = await startStreamPeer();
    return { ...streamContract, factory: tcpTransport({ host: 'localhost', port: contractPeer.port, family: 4 }) };
  },
  async () => {
    await contractPeer?.close();
  },
);

/** A TCP port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as { port: number }).port;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  return port;
}

const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describe('TCP transport', () => {
  let peer: StreamPeer;
  const subscriptions: Subscription[] = [];

  /** Subscribes to the factory; resolves with the transport and a promise of the factory's error. */
  function open(factory: TransportFactory): Promise<{ transport: Transport; failed: Promise<unknown>; close: () => void }> {
    return new Promise((resolve, reject) => {
      let settleFailure: (error: unknown) => void = () => undefined;
      const failed = new Promise<unknown>((done) => (settleFailure = done));
      let opened = false;
      const subscription = factory().subscribe({
        next: (transport) => {
          opened = true;
          resolve({ transport, failed, close: () => subscription.unsubscribe() });
        },
        error: (error) => (opened ? settleFailure(error) : reject(error)),
      });
      subscriptions.push(subscription);
    });
  }

  beforeEach(async () => {
    peer = await startStreamPeer();
  });

  afterEach(async () => {
    for (const subscription of subscriptions.splice(0)) subscription.unsubscribe();
    await peer.close();
  });

  it('emits a reliable stream transport with both addresses', async () => {
    const { transport } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const connection = await peer.nextConnection();
    expect(transport).toMatchObject({ reliable: true, framing: 'stream', maxFrameOverhead: 0 });
    expect(transport.remote).toEqual({ host: '127.0.0.1', port: peer.port });
    expect(transport.local).toEqual({ host: '127.0.0.1', port: connection.socket.remotePort });
  });

  it('binds the local address and port it is given', async () => {
    const localPort = await closedPort();
    const { transport } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port, localAddress: '127.0.0.1', localPort }));
    const connection = await peer.nextConnection();
    expect(transport.local).toEqual({ host: '127.0.0.1', port: localPort });
    expect(connection.socket.remotePort).toBe(localPort);
  });

  it('connects over IPv6 (::1)', async () => {
    const server = createServer((socket) => socket.end());
    await new Promise<void>((resolve) => server.listen(0, '::1', resolve));
    try {
      const port = (server.address() as { port: number }).port;
      const { transport, close } = await open(tcpTransport({ host: '::1', port }));
      expect(transport.remote).toEqual({ host: '::1', port });
      close();
    } finally {
      await new Promise<void>((resolve) => server.close(() => resolve()));
    }
  });

  it('emits the chunks as they arrive: a frame written byte by byte deframes to that frame', async () => {
    const { transport } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const connection = await peer.nextConnection();
    const pong = encodeStreamFrame(createPdu({ code: SignalCode.Pong, token: Uint8Array.of(1, 2, 3, 4), options: [{ number: 2, value: Uint8Array.of(1) }] }));
    connection.socket.setNoDelay(true);
    const received: Uint8Array[] = [];
    const complete = new Promise<void>((resolve) =>
      transport.frames$.subscribe((chunk) => {
        received.push(chunk);
        if (messagesOf(...received).length > 0) resolve();
      }),
    );
    for (const byte of pong) {
      connection.socket.write(Uint8Array.of(byte));
      await delay(2);
    }
    await complete;
    // 2 ms apart, the bytes arrive as several chunks (a busy machine may join some of them)
    expect(received.length).toBeGreaterThan(1);
    const messages = messagesOf(...received);
    expect(messages).toHaveLength(1);
    expect(messages[0]).toMatchObject({ code: SignalCode.Pong, token: Uint8Array.of(1, 2, 3, 4) });
  });

  it('sends the frames of one tick as one write: one data event at the server carries them all', async () => {
    const { transport } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const connection = await peer.nextConnection();
    transport.send(csm());
    for (const mid of [1, 2, 3]) transport.send(ping(mid));
    await firstValueFrom(transport.frames$);
    await delay(20);
    expect(connection.chunks).toHaveLength(1);
    expect(messagesOf(connection.chunks[0]).map((pdu) => pdu.code)).toEqual([SignalCode.CSM, SignalCode.Ping, SignalCode.Ping, SignalCode.Ping]);
  });

  it('keeps chunks that arrive before frames$ is subscribed for the first subscriber', async () => {
    const server = createServer((socket) => socket.write(csm()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { transport, close } = await open(tcpTransport({ host: '127.0.0.1', port: (server.address() as { port: number }).port }));
      await delay(50);
      const first = await firstValueFrom(transport.frames$);
      expect(messagesOf(first).map((pdu) => pdu.code)).toEqual([SignalCode.CSM]);
      close();
    } finally {
      server.close();
    }
  });

  it('delivers every chunk to every frames$ subscriber, and none after unsubscribing', async () => {
    const { transport } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const a: Uint8Array[] = [];
    const b: Uint8Array[] = [];
    const subscriptionA = transport.frames$.subscribe((chunk) => a.push(chunk));
    const both = firstValueFrom(transport.frames$.pipe(take(1)));
    transport.frames$.subscribe((chunk) => b.push(chunk));
    transport.send(ping(1));
    await both;
    subscriptionA.unsubscribe();
    transport.send(ping(2));
    await delay(30);
    expect(messagesOf(...a)).toHaveLength(1);
    expect(messagesOf(...b)).toHaveLength(2);
  });

  it('fails within milliseconds with CoapTransportError reason reset when the server resets the connection', async () => {
    const { transport, failed } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const connection = await peer.nextConnection();
    const completed = lastValueFrom(transport.frames$, { defaultValue: 'completed' });
    const started = Date.now();
    connection.socket.resetAndDestroy();
    const error = await failed;
    expect(Date.now() - started).toBeLessThan(200);
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ code: 'COAP_ERR_TRANSPORT', reason: 'reset', syscallCode: 'ECONNRESET', peer: { host: '127.0.0.1', port: peer.port } });
    expect(await completed).toBe('completed');
    expect(() => transport.send(ping(1))).not.toThrow();
  });

  it('fails within milliseconds with reason closed-by-peer when the server closes the connection', async () => {
    const { failed } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const connection = await peer.nextConnection();
    const started = Date.now();
    connection.socket.end();
    const error = await failed;
    expect(Date.now() - started).toBeLessThan(200);
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ reason: 'closed-by-peer', message: `127.0.0.1:${peer.port} closed the connection` });
  });

  it('fails at once with reason refused when nothing listens (ECONNREFUSED)', async () => {
    const port = await closedPort();
    const started = Date.now();
    const error = await open(tcpTransport({ host: '127.0.0.1', port })).catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(500);
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ reason: 'refused', syscallCode: 'ECONNREFUSED', peer: { host: '127.0.0.1', port } });
    expect((error as Error).message).toBe(`nothing listens on 127.0.0.1:${port} (connection refused)`);
  });

  it('fails with reason resolve-failed for a name that does not resolve', async () => {
    const error = await open(tcpTransport({ host: 'no-such-host.invalid', port: 5683 })).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ reason: 'resolve-failed' });
  });

  it('fails with reason connect-timeout when connecting takes longer than connectTimeout (on the scheduler)', async () => {
    const scheduler = new VirtualTimeScheduler();
    const errors: unknown[] = [];
    const subscription = tcpTransport({ host: '127.0.0.1', port: peer.port, connectTimeout: 3000, scheduler })().subscribe({ error: (e) => errors.push(e) });
    subscriptions.push(subscription);
    scheduler.flush();
    expect(errors).toHaveLength(1);
    expect(errors[0]).toBeInstanceOf(CoapTransportError);
    expect(errors[0]).toMatchObject({ reason: 'connect-timeout', message: `connecting to 127.0.0.1:${peer.port} timed out after 3000 ms` });
  });

  it('closes the connection on unsubscribe: the server sees FIN and close, later sends are no-ops', async () => {
    const { transport, close } = await open(tcpTransport({ host: '127.0.0.1', port: peer.port }));
    const connection = await peer.nextConnection();
    transport.send(ping(7));
    close();
    await connection.ended;
    await connection.closed;
    // what was sent in the tick of the unsubscribe still went out, before the FIN
    expect(messagesOf(...connection.chunks).map((pdu) => pdu.code)).toEqual([SignalCode.Ping]);
    expect(() => transport.send(ping(8))).not.toThrow();
  });

  it('destroys its socket soon after closing even when the server never closes its side', async () => {
    const server = createServer({ allowHalfOpen: true }, (socket) => socket.resume().on('error', () => undefined));
    const accepted = new Promise<import('node:net').Socket>((resolve) => server.once('connection', resolve));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const { transport, close } = await open(tcpTransport({ host: '127.0.0.1', port: (server.address() as { port: number }).port }));
      const serverSide = await accepted;
      // white box: the connection's socket (StreamConnection.socket), to see it go
      const clientSide = (transport as unknown as { socket: import('node:net').Socket }).socket;
      const destroyed = new Promise<number>((resolve) => clientSide.once('close', () => resolve(Date.now())));
      const ended = new Promise<void>((resolve) => serverSide.once('end', () => resolve()));
      const started = Date.now();
      close();
      await ended; // our FIN arrived; the server keeps its side open
      expect((await destroyed) - started).toBeLessThan(1500);
      serverSide.destroy();
    } finally {
      server.close();
    }
  });

  it('cancels a connection attempt that is unsubscribed before it connects', async () => {
    const subscription = tcpTransport({ host: '127.0.0.1', port: peer.port })().subscribe();
    subscription.unsubscribe();
    await delay(30);
    for (const connection of peer.connections) await connection.closed;
  });

  it('refuses bad options with CoapArgumentError naming the field', () => {
    const cases: [unknown, string][] = [
      [{ host: '', port: 5683 }, 'host'],
      [{ host: '127.0.0.1', port: 0 }, 'port'],
      [{ host: '127.0.0.1', port: 5683, family: 5 }, 'family'],
      [{ host: '127.0.0.1', port: 5683, localAddress: 'eth0' }, 'localAddress'],
      [{ host: '127.0.0.1', port: 5683, localPort: 70000 }, 'localPort'],
      [{ host: '127.0.0.1', port: 5683, connectTimeout: -1 }, 'connectTimeout'],
    ];
    for (const [options, field] of cases) {
      let error: unknown;
      try {
        tcpTransport(options as never);
      } catch (e) {
        error = e;
      }
      expect(error).toBeInstanceOf(CoapArgumentError);
      expect(error).toMatchObject({ field });
    }
  });
});
