/**
 * Block-wise transfers through the lossy proxy (src/testing/lossy-proxy.ts) at 10 % loss in each direction,
 * against libcoap's `coap-server-notls -d 10`: every lost block is retransmitted and the bodies arrive intact.
 * A short ackTimeout (100 ms) and more retransmissions keep it fast and make a give-up practically impossible.
 */
import { randomBytes } from 'node:crypto';
import { lastValueFrom } from 'rxjs';
import { CoapContext, type SessionEvent } from '../../src/node';
import { startLossyProxy, type LossyProxy } from '../../src/testing/lossy-proxy';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';

describeInterop('block-wise transfers through a lossy path (10 % loss each way, libcoap)', 'notls', () => {
  let server: LibcoapServer;
  let proxy: LossyProxy;
  let context: CoapContext;

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'notls', args: ['-d', '10'] });
    proxy = await startLossyProxy({
      target: { host: server.host, port: server.port },
      seed: 7,
      toServer: { drop: 0.1 },
      toClient: { drop: 0.1 },
    });
    context = new CoapContext({ transmission: { ackTimeout: 100, maxRetransmit: 8 } });
  });

  afterAll(async () => {
    await context?.free();
    await proxy?.close();
    await server?.stop();
  });

  it('uploads and downloads 256 KiB intact', async () => {
    const session = context.newClientSession({ server: proxy.uri() });
    const events: SessionEvent[] = [];
    const watching = session.events$.subscribe((event) => events.push(event));
    const body = new Uint8Array(randomBytes(256 * 1024));

    const put = await lastValueFrom(session.put('/lossy', { payload: body }));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    const get = await lastValueFrom(session.get('/lossy'));
    expect(get.codeText).toBe('2.05');
    expect(get.payload.length).toBe(body.length);
    expect(Buffer.compare(get.payload, body)).toBe(0);

    // The path really was lossy, and the message layer made up for it.
    expect(proxy.stats.toServer.dropped + proxy.stats.toClient.dropped).toBeGreaterThan(0);
    expect(events.some((event) => event.type === 'retransmitted')).toBe(true);
    watching.unsubscribe();
  }, 120_000);
});
