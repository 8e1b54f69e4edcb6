import { createSocket, type Socket } from 'node:dgram';
import { Method, MessageType, ResponseCode } from '../../src/codec/pdu';
import { CoapArgumentError } from '../../src/errors';
import { startLossyProxy, type LossSpec, type LossyProxy } from '../../src/testing/lossy-proxy';
import { seededRandom } from '../../src/testing/seeded-random';
import { startTestPeer, type TestPeer } from '../../src/testing/test-peer';
import { ipPeer } from '../helpers/ip-peer';
import { DgramClient, activeResources, settlesTo, waitFor } from './dgram-client';

/** A raw UDP sink recording the first byte (a sequence number) of every datagram it gets. */
async function openSink(): Promise<{ socket: Socket; port: number; seen: number[]; close: () => Promise<void> }> {
  const socket = createSocket('udp4');
  const seen: number[] = [];
  socket.on('message', (message) => seen.push(message.readUInt16BE(0)));
  await new Promise<void>((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, () => resolve()));
  return { socket, port: socket.address().port, seen, close: () => new Promise((resolve) => socket.close(() => resolve())) };
}

const numbered = (n: number): Uint8Array => Uint8Array.of(n >> 8, n & 0xff);

describe('lossy proxy', () => {
  const cleanups: Array<() => Promise<void>> = [];
  afterEach(async () => {
    while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
  });

  async function setup(toServer: LossSpec, seed = 1): Promise<{ proxy: LossyProxy; sink: Awaited<ReturnType<typeof openSink>>; client: DgramClient }> {
    const sink = await openSink();
    cleanups.push(sink.close);
    const proxy = await startLossyProxy({ target: { host: '127.0.0.1', port: sink.port }, seed, toServer });
    cleanups.push(() => proxy.close());
    const client = await DgramClient.open();
    cleanups.push(() => client.close());
    return { proxy, sink, client };
  }

  /** Sends `count` numbered datagrams in small paced batches so no socket buffer overflows. */
  async function sendNumbered(client: DgramClient, proxy: LossyProxy, count: number): Promise<void> {
    const base = proxy.stats.toServer.received;
    for (let i = 0; i < count; i++) {
      client.sendBytes(numbered(base + i), proxy.address.port);
      if (i % 25 === 24) await waitFor(() => proxy.stats.toServer.received === base + i + 1);
    }
    await waitFor(() => proxy.stats.toServer.received === base + count);
  }

  it('drops about the configured share of datagrams, the same ones for the same seed', async () => {
    const run = async (seed: number): Promise<number[]> => {
      const { proxy, sink, client } = await setup({ drop: 0.25 }, seed);
      await sendNumbered(client, proxy, 400);
      await waitFor(() => sink.seen.length === proxy.stats.toServer.forwarded);
      expect(proxy.stats.toServer.dropped + proxy.stats.toServer.forwarded).toBe(400);
      return sink.seen;
    };
    const first = await run(1234);
    expect(400 - first.length).toBeGreaterThan(70);
    expect(400 - first.length).toBeLessThan(130);
    expect(await run(1234)).toEqual(first);
    expect(await run(99)).not.toEqual(first);
  });

  it('duplicates datagrams', async () => {
    const { proxy, sink, client } = await setup({ duplicate: 1 });
    await sendNumbered(client, proxy, 3);
    await waitFor(() => sink.seen.length === 6);
    expect(sink.seen).toEqual([0, 0, 1, 1, 2, 2]);
    expect(proxy.stats.toServer.duplicated).toBe(3);
  });

  it('reorders: a held datagram goes out after the next one', async () => {
    const { proxy, sink, client } = await setup({ reorder: 1, reorderTimeout: 1000 });
    await sendNumbered(client, proxy, 1);
    expect(await new Promise((resolve) => setTimeout(() => resolve(sink.seen.length), 30))).toBe(0);
    await sendNumbered(client, proxy, 1);
    await waitFor(() => sink.seen.length === 2);
    expect(sink.seen).toEqual([1, 0]);
    expect(proxy.stats.toServer.reordered).toBe(1);
  });

  it('releases a held datagram after reorderTimeout when nothing follows', async () => {
    const { proxy, sink, client } = await setup({ reorder: 1, reorderTimeout: 40 });
    await sendNumbered(client, proxy, 1);
    await waitFor(() => sink.seen.length === 1, 500);
  });

  it('delays datagrams', async () => {
    const { proxy, sink, client } = await setup({ delay: [60, 80] });
    const sent = Date.now();
    await sendNumbered(client, proxy, 1);
    await waitFor(() => sink.seen.length === 1, 500);
    expect(Date.now() - sent).toBeGreaterThanOrEqual(55);
  });

  it('cuts the path at runtime with setLoss', async () => {
    const { proxy, sink, client } = await setup({});
    await sendNumbered(client, proxy, 2);
    await waitFor(() => sink.seen.length === 2);
    proxy.setLoss({ toServer: { drop: 1 } });
    client.sendBytes(numbered(7), proxy.address.port);
    await waitFor(() => proxy.stats.toServer.received === 3);
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(sink.seen).toEqual([0, 1]);
    expect(proxy.stats.toServer.dropped).toBe(1);
  });

  describe('in front of a test peer', () => {
    let peer: TestPeer;
    beforeEach(async () => {
      peer = await startTestPeer({ resources: [{ path: '/hello', get: 'world' }] });
      cleanups.push(() => peer.close());
    });

    it('forwards requests and responses, one upstream endpoint per client', async () => {
      const proxy = await startLossyProxy({ target: peer.address, seed: 5 });
      cleanups.push(() => proxy.close());
      const clients = [await DgramClient.open(), await DgramClient.open()];
      for (const client of clients) cleanups.push(() => client.close());
      for (const client of clients) {
        const response = await client.exchange(client.request(Method.GET, '/hello'), proxy.address.port);
        expect(response.code).toBe(ResponseCode.Content);
      }
      expect(proxy.clientCount).toBe(2);
      expect(new Set(peer.received.map((pdu) => ipPeer(pdu.source).port)).size).toBe(2);
      expect(proxy.stats.toClient.forwarded).toBe(2);
      expect(proxy.uri('/hello')).toBe(`coap://127.0.0.1:${proxy.address.port}/hello`);
    });

    it('loses responses on the way back with toClient loss', async () => {
      const proxy = await startLossyProxy({ target: peer.address, seed: 5, toClient: { drop: 1 } });
      cleanups.push(() => proxy.close());
      const client = await DgramClient.open();
      cleanups.push(() => client.close());
      client.send(client.request(Method.GET, '/hello', { type: MessageType.NON }), proxy.address.port);
      await waitFor(() => proxy.stats.toClient.dropped === 1);
      expect(peer.stats.requests).toBe(1);
      expect(client.pending).toBe(0);
    });
  });

  it('rejects a target or a listening address that is not loopback', async () => {
    await expect(startLossyProxy({ target: { host: '192.0.2.1', port: 5683 }, seed: 1 })).rejects.toBeInstanceOf(CoapArgumentError);
    await expect(startLossyProxy({ target: { host: '127.0.0.1', port: 5683 }, seed: 1, host: '0.0.0.0' as '127.0.0.1' })).rejects.toBeInstanceOf(CoapArgumentError);
  });

  it('leaves no socket or timer open after close()', async () => {
    const sockets = await activeResources('UDPWrap');
    const timers = await activeResources('Timeout');
    const sink = await openSink();
    cleanups.push(sink.close);
    const proxy = await startLossyProxy({ target: { host: '127.0.0.1', port: sink.port }, seed: 3, toServer: { delay: 1000, reorder: 0.5 } });
    cleanups.push(() => proxy.close());
    const client = await DgramClient.open();
    cleanups.push(() => client.close());
    for (let n = 0; n < 4; n++) client.sendBytes(numbered(n), proxy.address.port);
    await waitFor(() => proxy.stats.toServer.received === 4);
    // sink, client, the proxy's socket and the upstream socket of the one client
    expect(await activeResources('UDPWrap')).toBe(sockets + 4);
    expect(await activeResources('Timeout')).toBeGreaterThan(timers);
    while (cleanups.length > 0) await (cleanups.pop() as () => Promise<void>)();
    expect(await activeResources('UDPWrap')).toBe(sockets);
    // A short-lived timer of jest or of an earlier spec may still be pending; ours last 500 ms and more.
    await expect(settlesTo('Timeout', timers, 200)).resolves.toBe(true);
    expect(sink.seen).toEqual([]);
  });
});

describe('seededRandom', () => {
  it('repeats its sequence for a seed and stays in [0, 1)', () => {
    const a = seededRandom(42);
    const b = seededRandom(42);
    const values = Array.from({ length: 1000 }, () => a());
    expect(Array.from({ length: 1000 }, () => b())).toEqual(values);
    expect(values.every((value) => value >= 0 && value < 1)).toBe(true);
    const mean = values.reduce((sum, value) => sum + value, 0) / values.length;
    expect(Math.abs(mean - 0.5)).toBeLessThan(0.05);
    expect(seededRandom(43)()).not.toBe(values[0]);
  });
});
