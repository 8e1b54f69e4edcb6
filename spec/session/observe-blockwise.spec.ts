import { firstValueFrom, filter, take, toArray } from 'rxjs';
import { CoapContext } from '../../src/node';
import { startTestPeer, type TestPeer } from '../../src/testing';

/** Notifications larger than one block arrive whole: the rest is fetched without Observe (RFC 7959 §3.4). */
describe('observe with block-wise notifications (test peer)', () => {
  let peer: TestPeer;
  let ctx: CoapContext;
  const body = (n: number): Uint8Array => Uint8Array.from({ length: 3000 }, (_, i) => (i * 7 + n) & 0xff);

  beforeEach(async () => {
    peer = await startTestPeer({ resources: [{ path: '/big', observable: true, get: body(0) }] });
    ctx = new CoapContext();
  });

  afterEach(async () => {
    await ctx.free();
    await peer.close();
  });

  it('emits the registration response and a later notification whole, each 3000 bytes', async () => {
    const session = ctx.newClientSession({ server: peer.uri() });
    const received = firstValueFrom(session.observe('/big').pipe(take(2), toArray()));
    // Wait for the registration to complete before changing the resource.
    await firstValueFrom(session.observe('/big').pipe(filter((r) => r.payload.length === 3000), take(1)));
    peer.update('/big', body(1));
    const [first, second] = await received;
    expect(Buffer.from(first.payload).equals(Buffer.from(body(0)))).toBe(true);
    expect(Buffer.from(second.payload).equals(Buffer.from(body(1)))).toBe(true);
    expect(second.observe).toBeGreaterThan(first.observe!);
    expect(peer.observerCount('/big')).toBe(1);
  });
});
