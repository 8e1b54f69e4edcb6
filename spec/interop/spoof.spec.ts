/**
 * Off-path spoofing (RFC 7252 §11.4 / RFC 9175 motivation): a response with the right token and the right
 * message ID sent from any other endpoint than the server must be ignored, and the real response delivered.
 * The client's local port is read from the session's 'connected' event; token and message ID from what the
 * test peer received; the peer answers late so the spoof arrives first.
 */
import * as dgram from 'node:dgram';
import { filter, firstValueFrom, lastValueFrom, toArray, timeout } from 'rxjs';
import { CoapContext, MessageType, ResponseCode, createPdu, encodeDatagram, encodeString, type SessionEvent } from '../../src/node';
import { startTestPeer, type ReceivedPdu, type TestPeer } from '../../src/testing';

jest.setTimeout(15_000);

/** Sends one datagram from a fresh socket bound to `from` (port 0 = any) and closes it. */
function sendFrom(from: { address: string; port?: number }, to: { host: string; port: number }, bytes: Uint8Array): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = dgram.createSocket('udp4');
    socket.once('error', (error) => {
      socket.close();
      reject(error);
    });
    socket.bind(from.port ?? 0, from.address, () => {
      const sourcePort = socket.address().port;
      socket.send(bytes, to.port, to.host, (error) => {
        socket.close();
        if (error) reject(error);
        else resolve(sourcePort);
      });
    });
  });
}

describe('spoofed responses', () => {
  let peer: TestPeer;
  let context: CoapContext;

  beforeAll(async () => {
    peer = await startTestPeer({ resources: [{ path: '/slow', get: 'real' }] });
    peer.setFault({ path: '/slow', delay: 300 });
  });

  afterAll(async () => {
    await context?.free();
    await peer?.close();
  });

  beforeEach(() => {
    context = new CoapContext();
  });

  afterEach(async () => {
    await context.free();
  });

  const cases: Array<[string, (peerPort: number) => { address: string; port?: number }]> = [
    ['from another port of the server address', () => ({ address: '127.0.0.1' })],
    ['from another loopback address with the server port', (peerPort) => ({ address: '127.0.0.2', port: peerPort })],
  ];

  it.each(cases)('ignores a response with the right token and message ID %s and delivers the real one', async (_, spoofSource) => {
    const session = context.newClientSession({ server: peer.uri() });
    const connected = firstValueFrom(session.events$.pipe(filter((e): e is Extract<SessionEvent, { type: 'connected' }> => e.type === 'connected')));
    const request = new Promise<ReceivedPdu>((resolve) => {
      const onRequest = (pdu: ReceivedPdu): void => {
        peer.off('request', onRequest);
        resolve(pdu);
      };
      peer.on('request', onRequest);
    });
    const responses = lastValueFrom(session.get('/slow').pipe(toArray(), timeout(5000)));
    const local = (await connected).local;
    const seen = await request;
    expect(seen.source.port).toBe(local.port);

    const spoof = encodeDatagram(
      createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: seen.messageId, token: seen.token, payload: encodeString('spoofed') }),
    );
    const spoofPort = await sendFrom(spoofSource(peer.address.port), { host: local.host, port: local.port }, spoof);
    expect(spoofPort).toBeGreaterThan(0);

    const received = await responses;
    expect(received.map((r) => [r.codeText, r.text()])).toEqual([['2.05', 'real']]);
    expect(received[0].remote).toEqual({ host: '127.0.0.1', port: peer.address.port });
  });
});
