/**
 * The hostile datagram peer on a Unix datagram socket (`startHostileUnixPeer`): it answers a raw client's requests
 * with correct and mutated responses on the client's own path, sends a share from a stranger's path, and leaves
 * no socket path behind; rxcoap sessions over `unix-dgram` survive it (every request ends with a response or a
 * typed error, nothing thrown).
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import * as path from 'node:path';
import { lastValueFrom, timeout } from 'rxjs';
import { OptionNumber } from '../../src/codec/option-numbers';
import { Method, MessageType, ResponseCode, createPdu, type CoapPdu } from '../../src/codec/pdu';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { CoapContext, CoapError } from '../../src/node';
import { startHostileUnixPeer, type HostileUnixPeer } from '../../src/testing/hostile-unix-peer';
import { UnixDatagramPeer, describeUnixDgram } from '../helpers/unix-dgram-socket';

jest.setTimeout(30_000);

const encoder = new TextEncoder();
const get = (messageId: number, token: number): CoapPdu =>
  createPdu({ type: MessageType.CON, code: Method.GET, messageId, token: Uint8Array.of(0xee, token & 0xff), options: [{ number: OptionNumber.UriPath, value: encoder.encode('small') }] });
const delay = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

describeUnixDgram('hostile Unix datagram peer', () => {
  let dir: string;
  let peer: HostileUnixPeer | undefined;

  beforeEach(() => {
    dir = mkdtempSync('/tmp/rxh');
  });

  afterEach(async () => {
    await peer?.close();
    peer = undefined;
    rmSync(dir, { recursive: true, force: true });
  });

  it('answers a raw client on its own path, correct and mutated, some from the stranger path, and removes both paths on close', async () => {
    peer = await startHostileUnixPeer({ path: path.join(dir, 'h'), seed: 11, correctRate: 0.3, unsolicitedRate: 0, strangerRate: 0.5, tickInterval: 1000 });
    expect(peer.uri('/small')).toBe(`coap://${encodeURIComponent(path.join(dir, 'h'))}/small`);
    const client = await UnixDatagramPeer.bind(path.join(dir, 'c'));
    try {
      // Paced: a Unix datagram socket queues only a few datagrams (net.unix.max_dgram_qlen, 10 here); a burst of 40
      // would lose most of them before the peer reads any.
      for (let i = 0; i < 40; i++) {
        await client.sendTo(peer.path, encodeDatagram(get(100 + i, i)));
        await delay(5);
      }
      for (let waited = 0; waited < 2000 && peer.stats.requests < 40; waited += 50) await delay(50);
      await delay(300); // late answers
      expect(peer.stats.requests).toBe(40);
      const kinds = new Set(peer.recent().map((sent) => sent.kind));
      expect(kinds.has('correct')).toBe(true);
      expect([...kinds].some((kind) => kind !== 'correct')).toBe(true);
      expect(peer.recent().every((sent) => sent.destination.path === path.join(dir, 'c'))).toBe(true);
      expect(peer.stats.strangers).toBeGreaterThan(0);
      expect(peer.recent().some((sent) => sent.stranger)).toBe(true);
      // Some answers are right (ACK 2.05 with the request's token), some are garbage on purpose.
      const decoded = client.received.flatMap((frame) => {
        try {
          return [decodeDatagram(new Uint8Array(frame))];
        } catch {
          return [];
        }
      });
      const correct = decoded.filter((pdu) => pdu.type === MessageType.ACK && pdu.code === ResponseCode.Content && pdu.token[0] === 0xee);
      expect(correct.length).toBeGreaterThan(3);
      expect(client.received.length).toBeGreaterThan(decoded.length); // and some do not decode at all
    } finally {
      await client.close();
    }
    const served = peer.path;
    await peer.close();
    peer = undefined;
    expect(existsSync(served)).toBe(false);
    expect(existsSync(`${served}.x`)).toBe(false);
  });

  it('refuses a path in use, and leaves that socket alone', async () => {
    const other = await UnixDatagramPeer.bind(path.join(dir, 'busy'));
    try {
      await expect(startHostileUnixPeer({ path: path.join(dir, 'busy'), seed: 1 })).rejects.toMatchObject({ reason: 'path-in-use' });
      expect(await other.echoFrom(path.join(dir, 'probe'))).toBe(true);
    } finally {
      await other.close();
    }
  });

  it('cannot crash rxcoap sessions over unix-dgram: 60 GETs of every size end in a response or a typed error', async () => {
    peer = await startHostileUnixPeer({ path: path.join(dir, 'h'), seed: 5, correctRate: 0.5, tickInterval: 20, lateDelay: 60, blockSize: 256 });
    const context = new CoapContext({ transmission: { ackTimeout: 40, maxRetransmit: 2, nonTimeout: 300, separateResponseTimeout: 300, maxLatency: 100, processingDelay: 40 } });
    const uncaught: unknown[] = [];
    const onUncaught = (error: unknown): void => void uncaught.push(error);
    process.on('uncaughtException', onUncaught);
    try {
      const outcomes = await Promise.all(
        Array.from({ length: 60 }, async (_, i) => {
          const session = context.newClientSession(peer!.uri());
          try {
            const response = await lastValueFrom(session.get(['/small', '/large', '/obs', '/separate'][i % 4]).pipe(timeout(10_000)));
            return response.codeText;
          } catch (error) {
            return error instanceof CoapError ? error.code : `untyped: ${String(error)}`;
          } finally {
            session.release();
          }
        }),
      );
      expect(outcomes.filter((outcome) => outcome.startsWith('untyped'))).toEqual([]);
      // Half the answers are right: many sessions get one. (With the peer's full queue taken as a lost connection,
      // most sessions ended with COAP_ERR_TRANSPORT; with answers sent to the wrong path, most timed out.)
      expect(outcomes.filter((outcome) => /^\d\.\d\d$/.test(outcome)).length).toBeGreaterThanOrEqual(15);
      expect(uncaught).toEqual([]);
      expect(peer.stats.requests).toBeGreaterThan(0);
    } finally {
      process.off('uncaughtException', onUncaught);
      await context.free();
    }
  });
});
