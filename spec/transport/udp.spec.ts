import { createSocket } from 'node:dgram';
import { firstValueFrom, lastValueFrom, take } from 'rxjs';
import { CoapContext } from '../../src/node';
import { CoapTransportError } from '../../src/errors';
import { udpTransport } from '../../src/transport/udp';
import { startTestPeer, type TestPeer } from '../../src/testing';

/** A UDP port with nothing listening on it (bound, then closed). */
async function closedPort(): Promise<number> {
  const socket = createSocket('udp4');
  await new Promise<void>((resolve) => socket.bind(0, '127.0.0.1', resolve));
  const port = socket.address().port;
  await new Promise<void>((resolve) => socket.close(() => resolve()));
  return port;
}

describe('UDP transport', () => {
  let peer: TestPeer;
  let ctx: CoapContext;

  beforeEach(async () => {
    peer = await startTestPeer({ resources: [{ path: '/hello', get: 'world' }] });
    ctx = new CoapContext();
  });

  afterEach(async () => {
    await ctx.free();
    await peer.close();
  });

  it('fails a request fast with CoapTransportError (ECONNREFUSED) when ICMP says nothing listens', async () => {
    const port = await closedPort();
    const session = ctx.newClientSession({ server: `coap://127.0.0.1:${port}` });
    const started = Date.now();
    const error = await lastValueFrom(session.get('/hello')).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(CoapTransportError);
    expect(error).toMatchObject({ code: 'COAP_ERR_TRANSPORT', syscallCode: 'ECONNREFUSED', peer: { host: '127.0.0.1', port } });
    expect((error as Error).message).toContain('ICMP port unreachable');
    // Well before the first retransmission (2 s at the earliest).
    expect(Date.now() - started).toBeLessThan(1500);
  });

  it('connects again for the next request after a transport failure', async () => {
    const port = await closedPort();
    const session = ctx.newClientSession({ server: `coap://127.0.0.1:${port}` });
    await lastValueFrom(session.get('/hello')).catch(() => undefined);
    const events: string[] = [];
    session.events$.subscribe((event) => events.push(event.type));
    await lastValueFrom(session.get('/hello')).catch(() => undefined);
    expect(events).toEqual(['connected', 'failed']);
  });

  it('resolves a host name (localhost) and sends Uri-Host for it', async () => {
    const session = ctx.newClientSession({ server: `coap://localhost:${peer.address.port}` });
    const response = await lastValueFrom(session.get('/hello'));
    expect(response.text()).toBe('world');
    const request = peer.received.at(-1)!;
    expect(request.options.find((option) => option.number === 3)?.value).toEqual(new TextEncoder().encode('localhost'));
  });

  it('binds the local interface and port given by localIf', async () => {
    const localPort = await closedPort();
    const session = ctx.newClientSession({ server: peer.uri(), localIf: `127.0.0.1:${localPort}` });
    const connected = firstValueFrom(session.events$.pipe(take(1)));
    await lastValueFrom(session.get('/hello'));
    expect(await connected).toMatchObject({ type: 'connected', local: { host: '127.0.0.1', port: localPort } });
    expect(peer.received.at(-1)!.source).toMatchObject({ port: localPort });
  });

  it('closes its socket when the subscription ends', async () => {
    const factory = udpTransport({ host: '127.0.0.1', port: peer.address.port });
    const transport = await firstValueFrom(factory());
    // firstValueFrom unsubscribed: the socket is closed and sending is a no-op.
    expect(() => transport.send(Uint8Array.of(0x40, 0, 0, 1))).not.toThrow();
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(peer.received).toHaveLength(0);
  });
});
