/**
 * The message layer over a lossy path: rxcoap's own test peer behind the seeded lossy proxy, real sockets,
 * short timeouts (ackTimeout 50 ms) to keep it fast. Requests survive 20 % loss each way, fail with
 * CoapTimeoutError after maxRetransmit + 1 attempts on a dead path, observations survive lost notifications,
 * and a lost deregistration falls back to RST on the next notification (RFC 7641 §3.6).
 */
import { lastValueFrom, filter, firstValueFrom, timeout } from 'rxjs';
import { CoapContext, MessageType, type CoapResponse } from '../../src/node';
import { startLossyProxy, startTestPeer, type LossyProxy, type TestPeer } from '../../src/testing';

jest.setTimeout(60_000);

/** Polls `condition` until it holds, for at most `limit` milliseconds. */
async function waitFor(condition: () => boolean, limit = 5000): Promise<void> {
  const deadline = Date.now() + limit;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error(`condition not met within ${limit} ms`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

describe('CON requests through a lossy path (test peer + lossy proxy)', () => {
  let peer: TestPeer;
  let proxy: LossyProxy;
  let context: CoapContext;

  beforeAll(async () => {
    peer = await startTestPeer({
      resources: [{ path: '/echo', get: (request) => `echo ${request.query.join('&')}` }],
    });
    proxy = await startLossyProxy({ target: peer.address, seed: 2024, toServer: { drop: 0.2 }, toClient: { drop: 0.2 } });
    // 20 % each way: an attempt succeeds with p = 0.64; 11 attempts all fail with p < 2e-5 per request.
    context = new CoapContext({ transmission: { ackTimeout: 50, maxRetransmit: 10, nstart: 16 } });
  });

  afterAll(async () => {
    await context?.free();
    await proxy?.close();
    await peer?.close();
  });

  it('completes 500 CON requests, 16 in flight, each with its own payload', async () => {
    const session = context.newClientSession({ server: proxy.uri() });
    const retransmitted: number[] = [];
    session.events$.subscribe((event) => {
      if (event.type === 'retransmitted') retransmitted.push(event.messageId);
    });
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => lastValueFrom(session.get('/echo', { query: `n=${i}` })).then((response: CoapResponse) => [response.codeText, response.text()])),
    );
    expect(results).toEqual(Array.from({ length: 500 }, (_, i) => ['2.05', `echo n=${i}`]));
    expect(proxy.stats.toServer.dropped).toBeGreaterThan(50);
    expect(proxy.stats.toClient.dropped).toBeGreaterThan(50);
    expect(retransmitted.length).toBeGreaterThan(0);
    // Lost responses make the peer see duplicates, which it answers from its cache without re-running handlers.
    expect(peer.stats.duplicates).toBeGreaterThan(0);
    expect(peer.stats.requests).toBe(500);
    session.release();
  });
});

describe('CON requests through a dead path (100 % loss)', () => {
  let peer: TestPeer;
  let proxy: LossyProxy;
  let context: CoapContext;

  beforeAll(async () => {
    peer = await startTestPeer({ resources: [{ path: '/x', get: 'x' }] });
    proxy = await startLossyProxy({ target: peer.address, seed: 1, toServer: { drop: 1 } });
    context = new CoapContext({ transmission: { ackTimeout: 50, ackRandomFactor: 1, maxRetransmit: 3, nstart: 4 } });
  });

  afterAll(async () => {
    await context?.free();
    await proxy?.close();
    await peer?.close();
  });

  it('fails each request with CoapTimeoutError after maxRetransmit + 1 attempts', async () => {
    const session = context.newClientSession({ server: proxy.uri() });
    const started = performance.now();
    const errors = await Promise.all([0, 1, 2].map(() => lastValueFrom(session.get('/x')).then(() => undefined, (error: unknown) => error)));
    const elapsed = performance.now() - started;
    for (const error of errors) {
      expect(error).toMatchObject({ name: 'CoapTimeoutError', code: 'COAP_ERR_TIMEOUT', attempts: 4 });
    }
    // 50 + 100 + 200 + 400 ms without jitter.
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(proxy.stats.toServer.dropped).toBe(12);
    expect(peer.received).toHaveLength(0);
    session.release();
  });
});

describe('Observe through a lossy path', () => {
  let peer: TestPeer;
  let proxy: LossyProxy;
  let context: CoapContext;
  let counter = 0;

  beforeEach(async () => {
    counter = 0;
    peer = await startTestPeer({
      notifyType: 'NON',
      resources: [{ path: '/counter', observable: true, get: () => String(counter) }],
    });
    proxy = await startLossyProxy({ target: peer.address, seed: 99 });
    context = new CoapContext({ transmission: { ackTimeout: 50, ackRandomFactor: 1, maxRetransmit: 2 } });
  });

  afterEach(async () => {
    await context?.free();
    await proxy?.close();
    await peer?.close();
  });

  it('keeps the stream going, in order, when notifications are lost', async () => {
    const session = context.newClientSession({ server: proxy.uri() });
    const values: number[] = [];
    let failure: unknown;
    const subscription = session.observe('/counter').subscribe({ next: (n) => values.push(Number(n.text())), error: (error) => (failure = error) });
    await waitFor(() => values.length === 1 && peer.observerCount('/counter') === 1);
    proxy.setLoss({ toClient: { drop: 0.5 } });
    for (let i = 1; i <= 30; i++) {
      counter = i;
      peer.notify('/counter');
      await new Promise((resolve) => setTimeout(resolve, 5));
    }
    await new Promise((resolve) => setTimeout(resolve, 50)); // let the last datagrams land
    proxy.setLoss({ toClient: { drop: 0 } });
    counter = 31;
    peer.notify('/counter');
    await waitFor(() => values.at(-1) === 31);
    expect(failure).toBeUndefined();
    expect(proxy.stats.toClient.dropped).toBeGreaterThan(0);
    expect(values.length).toBeLessThan(32);
    expect(values[0]).toBe(0);
    for (let i = 1; i < values.length; i++) expect(values[i]).toBeGreaterThan(values[i - 1]);
    subscription.unsubscribe();
  });

  it('falls back to RST when the deregistration is lost: the observer disappears after its next notification', async () => {
    const session = context.newClientSession({ server: proxy.uri() });
    const subscription = session.observe('/counter').subscribe({ error: () => undefined });
    await waitFor(() => peer.observerCount('/counter') === 1);
    const token = Buffer.from(peer.received.find((pdu) => pdu.code === 1)!.token).toString('hex');

    proxy.setLoss({ toServer: { drop: 1 } });
    const droppedBefore = proxy.stats.toServer.dropped;
    subscription.unsubscribe();
    // The CON deregistration and its 2 retransmissions are all lost (50 + 100 + 200 ms).
    await waitFor(() => proxy.stats.toServer.dropped - droppedBefore === 3);
    await new Promise((resolve) => setTimeout(resolve, 250)); // the client gives up on it
    expect(peer.observerCount('/counter')).toBe(1);

    proxy.setLoss({ toServer: { drop: 0 } });
    counter = 1;
    expect(peer.notify('/counter')).toBe(1);
    await waitFor(() => peer.observerCount('/counter') === 0);
    const reset = peer.received.find((pdu) => pdu.type === MessageType.RST);
    expect(reset).toBeDefined();
    // Nothing more to observe: no re-registration came through.
    expect(peer.received.filter((pdu) => pdu.code === 1 && Buffer.from(pdu.token).toString('hex') === token)).toHaveLength(1);
  });

  it('gets a notification through once the path heals, with CON notifications retransmitted by the peer', async () => {
    await peer.close();
    peer = await startTestPeer({ notifyType: 'CON', ackTimeout: 50, maxRetransmit: 6, resources: [{ path: '/counter', observable: true, get: () => String(counter) }] });
    await proxy.close();
    proxy = await startLossyProxy({ target: peer.address, seed: 5 });
    const session = context.newClientSession({ server: proxy.uri() });
    const values: string[] = [];
    const subscription = session.observe('/counter').subscribe((n) => values.push(n.text()));
    await waitFor(() => values.length === 1);
    proxy.setLoss({ toClient: { drop: 1 } });
    counter = 7;
    peer.notify('/counter');
    await waitFor(() => peer.stats.retransmissions >= 2);
    proxy.setLoss({ toClient: { drop: 0 } });
    const seven = await firstValueFrom(session.observe('/counter').pipe(filter((n) => n.text() === '7'), timeout(5000)));
    expect(seven.typeName).toBe('CON');
    expect(values).toEqual(['0', '7']);
    subscription.unsubscribe();
  });
});
