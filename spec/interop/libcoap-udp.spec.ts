/**
 * CoAP over UDP against libcoap's `coap-server-notls`, on IPv4 and IPv6 loopback: the default resources
 * (`/`, `/time`, `/.well-known/core`, `/example_data`, `/async`), errors, NON and CON, ping, binding the
 * local side, and that freeing the context leaves no socket behind.
 */
import * as dgram from 'node:dgram';
import { firstValueFrom, lastValueFrom, filter, take, timeout, toArray } from 'rxjs';
import { CoapContext, MessageType, parseLinkFormat, type ClientSession, type SessionEvent } from '../../src/node';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';

// Real sockets and a real server: bounded, but far below the 30 s default.
jest.setTimeout(15_000);

const hosts = ['127.0.0.1', '::1'] as const;

/** UDP sockets open in this process. */
function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap').length;
}

/** Polls `condition` until it holds, for at most `limit` milliseconds. */
async function waitFor(condition: () => boolean, limit = 2000): Promise<void> {
  const deadline = Date.now() + limit;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limit} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A local UDP port that is free right now. */
function freeUdpPort(host: string): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket(host.includes(':') ? 'udp6' : 'udp4');
    socket.once('error', reject);
    socket.bind(0, host, () => {
      const { port } = socket.address();
      socket.close(() => resolve(port));
    });
  });
}

const authority = (host: string, port: number): string => (host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`);

for (const host of hosts) {
  describeInterop(`CoAP over UDP with coap-server-notls on ${host}`, 'notls', () => {
    let server: LibcoapServer;
    let context: CoapContext;
    let session: ClientSession;

    beforeAll(async () => {
      server = await startLibcoapServer({ flavor: 'notls', host });
      context = new CoapContext();
      session = context.newClientSession({ server: `coap://${authority(host, server.port)}` });
    });

    afterAll(async () => {
      await context?.free();
      await server?.stop();
    });

    it('GETs / and receives the server banner', async () => {
      const response = await lastValueFrom(session.get('/'));
      expect(response.codeText).toBe('2.05');
      expect(response.type).toBe(MessageType.ACK);
      expect(response.text()).toContain('libcoap');
      expect(response.remote).toEqual({ host, port: server.port });
    });

    it('GETs /time', async () => {
      const response = await lastValueFrom(session.get('/time'));
      expect(response.codeText).toBe('2.05');
      expect(response.text()).toMatch(/\d\d:\d\d:\d\d/);
    });

    it('GETs /.well-known/core and parses the link format', async () => {
      const response = await lastValueFrom(session.get('/.well-known/core'));
      expect(response.codeText).toBe('2.05');
      expect(response.contentFormat).toBe(40);
      const links = parseLinkFormat(response.text());
      const byTarget = new Map(links.map((link) => [link.target, link.attributes]));
      expect([...byTarget.keys()]).toEqual(expect.arrayContaining(['/', '/time', '/async', '/example_data']));
      expect(byTarget.get('/time')).toMatchObject({ rt: 'ticks', if: 'clock', obs: true, ct: '0' });
      expect(byTarget.get('/example_data')).toMatchObject({ obs: true });
    });

    it('PUTs /example_data and GETs the new value back', async () => {
      const value = `value from ${host} ${Date.now()}`;
      const put = await lastValueFrom(session.put('/example_data', { payload: value, contentFormat: 'text/plain;charset=utf-8' }));
      // libcoap: 2.01 Created while the resource has no data yet, 2.04 Changed after that.
      expect(put.codeText).toMatch(/^2\.0[14]$/);
      const get = await lastValueFrom(session.get('/example_data'));
      expect(get.codeText).toBe('2.05');
      expect(get.text()).toBe(value);
    });

    it('receives a separate response from /async?1 (empty ACK first, the answer in its own CON)', async () => {
      const started = performance.now();
      const response = await lastValueFrom(session.get('/async', { query: '1' }));
      const elapsed = performance.now() - started;
      expect(response.codeText).toBe('2.05');
      expect(response.type).toBe(MessageType.CON);
      expect(response.text()).toBe('done');
      expect(elapsed).toBeGreaterThanOrEqual(900);
    });

    it('returns 4.04 for a resource that does not exist, as a value', async () => {
      const response = await lastValueFrom(session.get('/no/such/resource'));
      expect(response.codeText).toBe('4.04');
      expect(response.ok).toBe(false);
    });

    it('sends a CON request and gets a piggybacked ACK', async () => {
      const response = await lastValueFrom(session.get('/time', { confirmable: true }));
      expect(response.typeName).toBe('ACK');
      expect(response.codeText).toBe('2.05');
    });

    it('sends a NON request and gets a NON response', async () => {
      const response = await lastValueFrom(session.get('/time', { confirmable: false }));
      expect(response.typeName).toBe('NON');
      expect(response.codeText).toBe('2.05');
    });

    it('runs several requests in flight on one session, each with its own answer', async () => {
      const paths = ['/', '/time', '/example_data', '/nothing-here'];
      const responses = await Promise.all(paths.map((path) => lastValueFrom(session.get(path))));
      expect(responses.map((r) => r.codeText)).toEqual(['2.05', '2.05', '2.05', '4.04']);
    });

    it('pings the server (empty CON answered by RST)', async () => {
      const rtt = await lastValueFrom(session.ping());
      expect(rtt).toBeGreaterThanOrEqual(0);
      expect(rtt).toBeLessThan(1000);
    });

    it('binds the chosen local port and reports it in the connected event', async () => {
      const port = await freeUdpPort(host);
      const bound = context.newClientSession({ server: `coap://${authority(host, server.port)}`, localIf: host.includes(':') ? `[${host}]:${port}` : `${host}:${port}` });
      const connected = firstValueFrom(bound.events$.pipe(filter((e): e is Extract<SessionEvent, { type: 'connected' }> => e.type === 'connected'), timeout(5000)));
      const response = await lastValueFrom(bound.get('/time'));
      expect(response.codeText).toBe('2.05');
      const event = await connected;
      expect(event.local).toEqual({ host, port });
      expect(event.remote).toEqual({ host, port: server.port });
      bound.release();
    });
  });
}

describeInterop('freeing a context with UDP sessions (coap-server-notls)', 'notls', () => {
  let server: LibcoapServer;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'notls' });
  });

  afterAll(async () => {
    await server?.stop();
  });

  it('leaves no socket open after ctx.free(), even with an observation and a request in flight', async () => {
    const before = udpHandles();
    const context = new CoapContext();
    const sessions = [0, 1, 2].map(() => context.newClientSession({ server: `coap://127.0.0.1:${server.port}` }));
    await Promise.all(sessions.map((s) => lastValueFrom(s.get('/time'))));
    const notifications = firstValueFrom(sessions[0].observe('/time').pipe(take(2), toArray(), timeout(5000)));
    await notifications;
    const observing = sessions[1].observe('/time').subscribe({ error: () => undefined });
    const pending = lastValueFrom(sessions[2].get('/async', { query: '5' })).catch((error: unknown) => error);
    // Other sockets of this process (the server helper's pings) may close meanwhile, never open.
    const during = udpHandles();
    expect(during).toBeGreaterThanOrEqual(3);
    await context.free();
    expect(await pending).toMatchObject({ code: 'COAP_ERR_SESSION_CLOSED' });
    expect(context.sessions.size).toBe(0);
    await waitFor(() => udpHandles() <= Math.min(before, during - 3));
    observing.unsubscribe();
    expect(() => context.newClientSession({ server: `coap://127.0.0.1:${server.port}` })).toThrow(expect.objectContaining({ code: 'COAP_ERR_ARGUMENT' }));
  });
});
