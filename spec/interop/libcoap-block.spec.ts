/**
 * Block-wise transfers against libcoap's `coap-server-notls -d 10` (dynamic resources: a PUT creates one):
 * Block1 uploads and Block2 downloads of large random bodies at several MTUs, with every datagram checked
 * against the MTU through the context's `logger.pdu` hook.
 */
import { randomBytes } from 'node:crypto';
import { lastValueFrom, toArray } from 'rxjs';
import { CoapContext, decodeDatagram, OptionNumber, getOption, decodeBlock, type ClientSession } from '../../src/node';
import { describeInterop, startLibcoapServer, type LibcoapServer } from '../helpers/libcoap';

interface Datagram {
  readonly direction: 'sent' | 'received';
  readonly size: number;
  readonly frame: Uint8Array;
}

describeInterop('block-wise transfers with libcoap (coap-server-notls -d 10)', 'notls', () => {
  let server: LibcoapServer;
  let context: CoapContext;
  let datagrams: Datagram[];

  beforeAll(async () => {
    server = await startLibcoapServer({ flavor: 'notls', args: ['-d', '10'] });
  });

  afterAll(async () => {
    await server?.stop();
  });

  beforeEach(() => {
    datagrams = [];
    context = new CoapContext({
      logger: { pdu: (direction, frame) => datagrams.push({ direction, size: frame.length, frame: frame.slice() }) },
    });
  });

  afterEach(async () => {
    await context.free();
  });

  function session(mtu?: number): ClientSession {
    const created = context.newClientSession({ server: `coap://${server.host}:${server.port}` });
    if (mtu !== undefined) created.setMtu(mtu);
    return created;
  }

  async function roundTrip(client: ClientSession, path: string, body: Uint8Array): Promise<Uint8Array> {
    const put = await lastValueFrom(client.put(path, { payload: body, contentFormat: 'application/octet-stream' }));
    expect(put.codeText).toMatch(/^2\.0[14]$/);
    const get = await lastValueFrom(client.get(path));
    expect(get.codeText).toBe('2.05');
    return get.payload;
  }

  /** Block sizes seen on the wire, per option. */
  function blockSizesOnWire(number: number): Set<number> {
    const sizes = new Set<number>();
    for (const datagram of datagrams) {
      const value = getOption(decodeDatagram(datagram.frame), number);
      if (value !== undefined) sizes.add(16 << decodeBlock(value).szx);
    }
    return sizes;
  }

  it('uploads 100 KiB with PUT (Block1) and downloads the same bytes (Block2)', async () => {
    const body = new Uint8Array(randomBytes(100 * 1024));
    const received = await roundTrip(session(), '/upload-test', body);
    expect(received.length).toBe(body.length);
    expect(Buffer.compare(received, body)).toBe(0);
    expect(blockSizesOnWire(OptionNumber.Block1)).toEqual(new Set([1024]));
    expect(blockSizesOnWire(OptionNumber.Block2)).toEqual(new Set([1024]));
  });

  it.each([
    [64, 16],
    [160, 64],
    [352, 256],
    [1152, 1024],
  ])('keeps every datagram within an MTU of %i bytes (blocks of %i bytes)', async (mtu, size) => {
    const body = new Uint8Array(randomBytes(100 * 1024));
    const received = await roundTrip(session(mtu), `/mtu-${mtu}`, body);
    expect(Buffer.compare(received, body)).toBe(0);
    const largest = Math.max(...datagrams.map((datagram) => datagram.size));
    expect(largest).toBeLessThanOrEqual(mtu);
    expect(blockSizesOnWire(OptionNumber.Block1)).toEqual(new Set([size]));
    expect(blockSizesOnWire(OptionNumber.Block2)).toEqual(new Set([size]));
  }, 120_000); // 6,400 blocks each way at 16 bytes: about a second, but far slower under --detectOpenHandles

  it('round-trips 1 MiB', async () => {
    const body = new Uint8Array(randomBytes(1024 * 1024));
    const received = await roundTrip(session(), '/big', body);
    expect(received.length).toBe(body.length);
    expect(Buffer.compare(received, body)).toBe(0);
  }, 60_000);

  it('emits each block with progress when singleBody is off', async () => {
    const body = new Uint8Array(randomBytes(10 * 1024));
    context.setBlockMode({ singleBody: false });
    const client = session();
    await lastValueFrom(client.put('/partial', { payload: body }));
    const parts = await lastValueFrom(client.get('/partial').pipe(toArray()));
    expect(parts.length).toBe(10);
    expect(parts.map((part) => part.progress?.offset)).toEqual([0, 1024, 2048, 3072, 4096, 5120, 6144, 7168, 8192, 9216]);
    expect(parts[9].progress).toEqual({ offset: 9216, received: 10240, total: 10240, complete: true });
    expect(Buffer.compare(Buffer.concat(parts.map((part) => part.payload)), body)).toBe(0);
  });
});
