/**
 * DTLS-PSK client sessions (`ctx.newClientSessionPsk`) against libcoap's `coap-server-openssl` and
 * `coap-server-gnutls` started with `-k <key> -h <hint> -d 10`: requests, Observe, block-wise over DTLS, the
 * 'dtls-connected' event, maxPduSize after the handshake, a wrong key, missing credentials, and release
 * (close_notify seen on the wire through a small forwarder, no socket left behind).
 */
import { randomBytes } from 'node:crypto';
import * as dgram from 'node:dgram';
import { filter, firstValueFrom, lastValueFrom, take, timeout, toArray } from 'rxjs';
import { CoapContext, type ClientSession, type SessionEvent } from '../../src/node';
import { describeInterop, startLibcoapServer, type LibcoapFlavor, type LibcoapServer } from '../helpers/libcoap';

jest.setTimeout(30_000);

const KEY = 'secretPSK';
const IDENTITY = 'rxcoap-client';
const HINT = 'rxcoap-hint';
const UDP_HEADER = 4;

/** UDP sockets open in this process. */
function udpHandles(): number {
  return process.getActiveResourcesInfo().filter((name) => name === 'UDPWrap').length;
}

/** Polls `condition` until it holds, for at most `limit` milliseconds. */
async function waitFor(condition: () => boolean, limit = 3000): Promise<void> {
  const deadline = Date.now() + limit;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limit} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** A loopback UDP forwarder for one client that records the DTLS content type of every client record. */
async function startForwarder(target: { host: string; port: number }) {
  const front = dgram.createSocket('udp4');
  const back = dgram.createSocket('udp4');
  const clientRecordTypes: number[] = [];
  let client: dgram.RemoteInfo | undefined;
  front.on('message', (message, remote) => {
    client = remote;
    clientRecordTypes.push(message[0]);
    back.send(message, target.port, target.host);
  });
  back.on('message', (message) => {
    if (client !== undefined) front.send(message, client.port, client.address);
  });
  await new Promise<void>((resolve) => front.bind(0, '127.0.0.1', () => resolve()));
  await new Promise<void>((resolve) => back.bind(0, '127.0.0.1', () => resolve()));
  return {
    port: front.address().port,
    clientRecordTypes,
    close: () => Promise.all([new Promise<void>((resolve) => front.close(() => resolve())), new Promise<void>((resolve) => back.close(() => resolve()))]),
  };
}

type DtlsConnected = Extract<SessionEvent, { type: 'dtls-connected' }>;

const flavors: LibcoapFlavor[] = ['openssl', 'gnutls'];

for (const flavor of flavors) {
  describeInterop(`DTLS-PSK sessions with coap-server-${flavor}`, flavor, () => {
    let server: LibcoapServer;
    let context: CoapContext;
    let session: ClientSession;
    const events: SessionEvent[] = [];

    beforeAll(async () => {
      server = await startLibcoapServer({ flavor, args: ['-k', KEY, '-h', HINT, '-d', '10'] });
      context = new CoapContext();
      session = context.newClientSessionPsk({ server: `coaps://127.0.0.1:${server.securePort}`, psk: { identity: IDENTITY, key: KEY } });
      session.events$.subscribe((event) => events.push(event));
    });

    afterAll(async () => {
      await context?.free();
      await server?.stop();
    });

    it('GETs /time over DTLS and reports dtls-connected with the cipher suite', async () => {
      const response = await lastValueFrom(session.get('/time'));
      expect(response.codeText).toBe('2.05');
      expect(response.text()).toMatch(/\d\d:\d\d:\d\d/);
      expect(response.remote).toEqual({ host: '127.0.0.1', port: server.securePort });
      const connected = events.find((e): e is DtlsConnected => e.type === 'dtls-connected');
      expect(connected).toBeDefined();
      expect(connected!.cipherSuite).toMatch(/^TLS_PSK_WITH_AES_(128|256)_(CCM_8|CCM|GCM_SHA256|GCM_SHA384)$/);
      expect(events.map((e) => e.type)).toContain('connected');
    });

    it('reports maxPduSize as the MTU minus the negotiated DTLS overhead minus 4', async () => {
      await lastValueFrom(session.get('/time'));
      const suite = events.find((e): e is DtlsConnected => e.type === 'dtls-connected')!.cipherSuite;
      // 13-byte record header + 8-byte explicit nonce + an 8-byte (CCM_8) or 16-byte tag.
      const overhead = suite.endsWith('CCM_8') ? 29 : 37;
      expect(session.maxPduSize()).toBe(session.mtu - overhead - UDP_HEADER);
      expect(session.maxPduSize()).toBe(1152 - overhead - 4);
    });

    it('PUTs /example_data and GETs it back', async () => {
      const value = `over ${flavor} ${Date.now()}`;
      const put = await lastValueFrom(session.put('/example_data', { payload: value }));
      expect(put.codeText).toMatch(/^2\.0[14]$/);
      const get = await lastValueFrom(session.get('/example_data'));
      expect(get.text()).toBe(value);
    });

    it('observes /time for two notifications', async () => {
      const responses = await lastValueFrom(session.observe('/time').pipe(take(3), toArray(), timeout(10_000)));
      expect(responses.map((r) => r.codeText)).toEqual(['2.05', '2.05', '2.05']);
      expect(responses[2].observe!).toBeGreaterThan(responses[1].observe!);
      expect(responses[1].observe!).toBeGreaterThan(responses[0].observe!);
    });

    it('PUTs 20 KiB block-wise to a dynamic resource and GETs the same bytes back', async () => {
      const body = new Uint8Array(randomBytes(20 * 1024));
      const put = await lastValueFrom(session.put(`/dtls-${flavor}`, { payload: body, contentFormat: 'application/octet-stream' }));
      expect(put.codeText).toMatch(/^2\.0[14]$/);
      const get = await lastValueFrom(session.get(`/dtls-${flavor}`));
      expect(get.codeText).toBe('2.05');
      expect(get.payload.length).toBe(body.length);
      expect(Buffer.compare(get.payload, body)).toBe(0);
    });

    it('fails with CoapDtlsError on a wrong key', async () => {
      const wrong = context.newClientSessionPsk({ server: `coaps://127.0.0.1:${server.securePort}`, psk: { identity: IDENTITY, key: 'not-the-key' } });
      const error = await lastValueFrom(wrong.get('/time')).then(
        () => undefined,
        (failure: unknown) => failure,
      );
      expect(error).toMatchObject({ name: 'CoapDtlsError', code: 'COAP_ERR_DTLS', reason: 'bad-psk' });
      expect(String((error as Error).message)).not.toContain('not-the-key');
      wrong.release();
    });

    it('refuses newClientSessionPsk without a PSK with a clear CoapArgumentError; newClientSession is anonymous DTLS (issue 19)', async () => {
      const bare = new CoapContext();
      expect(() => bare.newClientSessionPsk({ server: `coaps://127.0.0.1:${server.securePort}` })).toThrow(
        expect.objectContaining({ name: 'CoapArgumentError', code: 'COAP_ERR_ARGUMENT', message: expect.stringMatching(/PSK credentials/) }),
      );
      expect(bare.sessions.size).toBe(0);
      // A PSK-only server refuses the certificate suites of anonymous DTLS (libcoap-dtls-pki.spec.ts has servers with
      // certificates): openssl with a handshake_failure alert; gnutls silently ("Insufficient credentials"), so the
      // session would wait for its 30 s handshake deadline.
      if (flavor === 'openssl') {
        const anonymous = bare.newClientSession({ server: `coaps://127.0.0.1:${server.securePort}` });
        await expect(lastValueFrom(anonymous.get('/time'))).rejects.toMatchObject({ name: 'CoapDtlsError', code: 'COAP_ERR_DTLS', reason: 'alert' });
      }
      await bare.free();
    });

    it('sends close_notify on release() and leaves no socket behind', async () => {
      const before = udpHandles();
      const forwarder = await startForwarder({ host: '127.0.0.1', port: server.securePort });
      try {
        const own = new CoapContext();
        const released = own.newClientSessionPsk({ server: `coaps://127.0.0.1:${forwarder.port}`, psk: { identity: IDENTITY, key: KEY } });
        const closed = firstValueFrom(released.events$.pipe(filter((e) => e.type === 'closed')));
        expect((await lastValueFrom(released.get('/time'))).codeText).toBe('2.05');
        const during = udpHandles();
        const recordsBefore = forwarder.clientRecordTypes.length;
        expect(released.release()).toBe(0);
        expect(await closed).toEqual({ type: 'closed', reason: 'released' });
        await waitFor(() => forwarder.clientRecordTypes.length > recordsBefore);
        // RFC 5246 §7.2.1: the last record is an alert (content type 21): close_notify.
        expect(forwarder.clientRecordTypes.at(-1)).toBe(21);
        expect(own.sessions.size).toBe(0);
        await waitFor(() => udpHandles() <= during - 1);
        await own.free();
      } finally {
        await forwarder.close();
      }
      await waitFor(() => udpHandles() <= before);
    });
  });
}
