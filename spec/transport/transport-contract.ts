/**
 * The transport contract (src/transport/transport.ts), as one suite every transport runs: udp, dtls and the fake
 * one today; tcp, tls, ws and unix-dgram when they come. The round trip is a CoAP ping (an empty CON, answered
 * by RST with the same message ID), which every CoAP peer gives; on byte streams (tcp, tls) a 7.02 Ping answered
 * by a 7.03 Pong with the same token (RFC 8323 §5.4).
 */
import { defer, firstValueFrom, mergeMap, take, toArray, type Observable } from 'rxjs';
import type { Transport, TransportFactory } from '../../src/transport/transport';
import { ipPeer } from '../helpers/ip-peer';

/** What a transport under test needs around it. */
export interface ContractSetup {
  /** A factory connected to a peer that answers a CoAP request. */
  readonly factory: TransportFactory;
  /** Whether the transport carries datagrams (false) or a byte stream / WS messages (true). */
  readonly reliable: boolean;
  /** The frame of a request with message ID `mid`, as this transport sends it. */
  readonly request: (mid: number) => Uint8Array;
  /** True when `frame` answers the request with message ID `mid`. */
  readonly isAnswer: (frame: Uint8Array, mid: number) => boolean;
  /**
   * Byte streams (tcp, tls): `frames$` emits chunks cut anywhere, so the round trips split them into the
   * messages `isAnswer` judges. Called once per subscription; returns a stateful splitter (chunk in,
   * complete messages out, e.g. over stream-codec's `StreamDeframer`), which may also drop messages that are
   * not answers (a peer's CSM). Absent for datagram transports: one frame is one message.
   */
  readonly deframe?: () => (chunk: Uint8Array) => readonly Uint8Array[];
}

/** Registers the contract cases for one transport. `setup` runs before each case, `teardown` after. */
export function describeTransportContract(name: string, setup: () => Promise<ContractSetup>, teardown: () => Promise<void> = async () => undefined): void {
  describe(`transport contract: ${name}`, () => {
    let context: ContractSetup;

    beforeEach(async () => {
      context = await setup();
    });

    afterEach(async () => {
      await teardown();
    });

    /** The messages of `frames$`: the frames themselves, or the chunks split by `deframe`. */
    const messages = (transport: Transport): Observable<Uint8Array> => {
      const deframe = context.deframe;
      if (deframe === undefined) return transport.frames$;
      return defer(() => {
        const split = deframe();
        return transport.frames$.pipe(mergeMap((chunk) => split(chunk)));
      });
    };

    const open = (): Promise<{ transport: Transport; close: () => void }> =>
      new Promise((resolve, reject) => {
        const subscription = context.factory().subscribe({
          next: (transport) => resolve({ transport, close: () => subscription.unsubscribe() }),
          error: reject,
        });
      });

    it('is cold: nothing happens until subscribed, and each subscription opens its own connection', async () => {
      const factory$: Observable<Transport> = context.factory();
      const a = await firstValueFrom(factory$);
      const b = await firstValueFrom(factory$);
      expect(a).not.toBe(b);
    });

    it('emits one transport with both addresses and its kind', async () => {
      const { transport, close } = await open();
      try {
        expect(transport.reliable).toBe(context.reliable);
        expect(ipPeer(transport.remote).port).toBeGreaterThan(0);
        expect(typeof ipPeer(transport.local).host).toBe('string');
        expect(transport.maxFrameOverhead).toBeGreaterThanOrEqual(0);
      } finally {
        close();
      }
    });

    it('carries a frame to the peer and the answer back on frames$', async () => {
      const { transport, close } = await open();
      try {
        const answer = firstValueFrom(messages(transport).pipe(take(1)));
        transport.send(context.request(0x1234));
        expect(context.isAnswer(await answer, 0x1234)).toBe(true);
      } finally {
        close();
      }
    });

    it('keeps the order and count of several round trips', async () => {
      const { transport, close } = await open();
      try {
        const answers = firstValueFrom(messages(transport).pipe(take(3), toArray()));
        for (const mid of [1, 2, 3]) transport.send(context.request(mid));
        const frames = await answers;
        expect([1, 2, 3].every((mid) => frames.some((frame) => context.isAnswer(frame, mid)))).toBe(true);
      } finally {
        close();
      }
    });

    it('stops delivering frames once unsubscribed, and sending after that is a no-op', async () => {
      const { transport, close } = await open();
      const seen: Uint8Array[] = [];
      transport.frames$.subscribe((frame) => seen.push(frame));
      close();
      expect(() => transport.send(context.request(9))).not.toThrow();
      await new Promise((resolve) => setTimeout(resolve, 100));
      expect(seen).toEqual([]);
    });
  });
}
