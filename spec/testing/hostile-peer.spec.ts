import { createSocket, type Socket } from 'node:dgram';
import { OptionNumber } from '../../src/codec/option-numbers';
import { encodeUint } from '../../src/codec/option-values';
import { Method, MessageType, ResponseCode, createPdu, getOption, tokenToHex, type CoapPdu } from '../../src/codec/pdu';
import { decodeDatagram, encodeDatagram } from '../../src/codec/udp-codec';
import { decodeStreamFrame, encodeStreamFrame } from '../../src/codec/stream-codec';
import { CoapArgumentError } from '../../src/errors';
import { datagramFraming, streamFraming } from '../../src/testing/hostile-framing';
import { startHostilePeer, type HostilePeer } from '../../src/testing/hostile-peer';
import { createHostileResponder } from '../../src/testing/hostile-responder';
import { MUTATION_KINDS, mutateResponse, spoofedAck } from '../../src/testing/mutate';
import { seededRandom } from '../../src/testing/seeded-random';
import { activeResources, settlesTo, waitFor } from './dgram-client';

const encoder = new TextEncoder();
const path = (segment: string) => ({ number: OptionNumber.UriPath, value: encoder.encode(segment) });
const get = (messageId: number, token: number, segment = 'small', type: MessageType = MessageType.CON): CoapPdu =>
  createPdu({ type, code: Method.GET, messageId, token: Uint8Array.of(0xee, token & 0xff), options: [path(segment)] });
const hex = (bytes: Uint8Array) => Buffer.from(bytes).toString('hex');

/** A raw UDP socket that keeps every datagram it gets, undecoded (the peer sends garbage on purpose). */
class RawClient {
  readonly received: Uint8Array[] = [];
  private constructor(readonly socket: Socket) {
    socket.on('message', (message) => this.received.push(new Uint8Array(message)));
  }
  static open(): Promise<RawClient> {
    const socket = createSocket('udp4');
    return new Promise((resolve) => socket.bind({ address: '127.0.0.1', port: 0 }, () => resolve(new RawClient(socket))));
  }
  send(pdu: CoapPdu, port: number): void {
    this.socket.send(encodeDatagram(pdu), port, '127.0.0.1');
  }
  close(): Promise<void> {
    return new Promise((resolve) => this.socket.close(() => resolve()));
  }
}

function tryDecode(frame: Uint8Array): CoapPdu | undefined {
  try {
    return decodeDatagram(frame);
  } catch {
    return undefined;
  }
}

describe('hostile peer', () => {
  let peer: HostilePeer | undefined;
  let client: RawClient | undefined;

  afterEach(async () => {
    await client?.close();
    await peer?.close();
    client = undefined;
    peer = undefined;
  });

  it('answers some requests correctly and mutates the others', async () => {
    peer = await startHostilePeer({ seed: 7, correctRate: 0.3, unsolicitedRate: 0, tickInterval: 1000 });
    client = await RawClient.open();
    for (let i = 0; i < 60; i++) client.send(get(0x100 + i, i), peer.address.port);
    await waitFor(() => peer!.stats.requests === 60, 2000);
    await new Promise((resolve) => setTimeout(resolve, 300)); // late answers
    const answers = client.received.map(tryDecode);
    const correct = answers.filter((pdu) => pdu !== undefined && pdu.type === MessageType.ACK && pdu.code === ResponseCode.Content && pdu.token[0] === 0xee);
    const broken = answers.filter((pdu) => pdu === undefined);
    expect(correct.length).toBeGreaterThan(10);
    expect(broken.length).toBeGreaterThan(0);
    const behaviours = Object.keys(peer.stats.behaviours);
    expect(behaviours).toContain('correct');
    expect(behaviours.filter((name) => name !== 'correct').length).toBeGreaterThan(3);
    const kinds = Object.keys(peer.stats.sent).filter((kind) => (MUTATION_KINDS as readonly string[]).includes(kind));
    expect(kinds.length).toBeGreaterThan(3);
  });

  it('serves Block2 blocks and Observe notifications when it answers correctly', async () => {
    peer = await startHostilePeer({ seed: 3, correctRate: 1, unsolicitedRate: 0, tickInterval: 20, notifyRate: 1, blockSize: 256 });
    client = await RawClient.open();
    const block1 = createPdu({ code: Method.GET, messageId: 1, token: Uint8Array.of(1), options: [path('large'), { number: OptionNumber.Block2, value: encodeUint((3 << 4) | 4) }] });
    const observe = createPdu({ code: Method.GET, messageId: 2, token: Uint8Array.of(2), options: [{ number: OptionNumber.Observe, value: new Uint8Array(0) }, path('obs')] });
    client.send(block1, peer.address.port);
    client.send(observe, peer.address.port);
    const notificationsOf = (pdus: CoapPdu[]) => pdus.filter((pdu) => pdu.token[0] === 2 && pdu.messageId !== 2);
    await waitFor(() => notificationsOf(client!.received.map((frame) => decodeDatagram(frame))).length >= 2, 2000);
    const pdus = client.received.map((frame) => decodeDatagram(frame));
    const block = pdus.find((pdu) => pdu.messageId === 1)!;
    expect(block.type).toBe(MessageType.ACK);
    expect(hex(getOption(block, OptionNumber.Block2)!)).toBe('3c'); // block 3, more, 256 bytes
    expect(block.payload.length).toBe(256);
    const notifications = notificationsOf(pdus);
    expect(notifications.length).toBeGreaterThanOrEqual(2);
    expect(notifications.every((pdu) => getOption(pdu, OptionNumber.Observe) !== undefined)).toBe(true);
  });

  it('is reproducible: the same seed and inputs give the same datagrams, another seed others', () => {
    const run = (seed: number) => {
      const responder = createHostileResponder({ seed });
      const out: string[] = [];
      for (let i = 0; i < 200; i++) {
        const request = get(0x200 + i, i, i % 3 === 0 ? 'large' : i % 3 === 1 ? 'obs' : 'small', i % 4 === 0 ? MessageType.NON : MessageType.CON);
        for (const datagram of responder.receive(encodeDatagram(request), `client-${i % 3}`)) out.push(`${datagram.kind}:${datagram.delay}:${hex(datagram.frame)}`);
        for (const datagram of responder.tick()) out.push(`tick ${datagram.kind}:${hex(datagram.frame)}`);
      }
      return out;
    };
    const first = run(42);
    expect(run(42)).toEqual(first);
    expect(run(43)).not.toEqual(first);
    const mutation = (seed: number) => mutateResponse(encodeDatagram(createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: 9, token: Uint8Array.of(9) })), undefined, seededRandom(seed));
    expect(mutation(5)).toEqual(mutation(5));
  });

  it('writes the hostile options of issue 16: a 4-byte Block2, a spoofed ACK with the right MID and another token', () => {
    const response = createPdu({ type: MessageType.ACK, code: ResponseCode.Content, messageId: 0x1234, token: Uint8Array.of(1, 2, 3, 4), payload: encoder.encode('x') });
    for (let seed = 0; seed < 20; seed++) {
      const mutation = mutateResponse(encodeDatagram(response), undefined, seededRandom(seed), datagramFraming, 'block2-long');
      // The decoder reads it (a 4..8-byte value is well formed on the wire); the Block2 layer must refuse it.
      const block2 = getOption(decodeDatagram(mutation.frame), OptionNumber.Block2)!;
      expect(block2.length).toBeGreaterThanOrEqual(4);
    }
    const request = get(0x4321, 7);
    const spoof = decodeDatagram(spoofedAck(request, seededRandom(1)));
    expect(spoof.type).toBe(MessageType.ACK);
    expect(spoof.messageId).toBe(0x4321);
    expect(tokenToHex(spoof.token)).not.toBe(tokenToHex(request.token));
  });

  it('mutates with another framing (RFC 8323 stream frames) through the same engine', () => {
    const frame = encodeStreamFrame(createPdu({ code: ResponseCode.Content, token: Uint8Array.of(5), options: [{ number: OptionNumber.ContentFormat, value: new Uint8Array(0) }], payload: encoder.encode('hello') }));
    const mutated = mutateResponse(frame, undefined, seededRandom(2), streamFraming, 'unknown-critical');
    const pdu = decodeStreamFrame(mutated.frame);
    expect(pdu.options.some((option) => option.number % 2 === 1 && option.number !== OptionNumber.ContentFormat)).toBe(true);
  });

  it('refuses a host that is not loopback', async () => {
    await expect(startHostilePeer({ host: '0.0.0.0' as '127.0.0.1' })).rejects.toBeInstanceOf(CoapArgumentError);
  });

  it('leaves no socket or timer open after close()', async () => {
    const sockets = await activeResources('UDPWrap');
    const timers = await activeResources('Timeout');
    peer = await startHostilePeer({ seed: 1, lateDelay: 500, tickInterval: 10 });
    client = await RawClient.open();
    for (let i = 0; i < 20; i++) client.send(get(0x300 + i, i, 'obs'), peer.address.port);
    await waitFor(() => peer!.stats.requests === 20, 2000);
    expect(await activeResources('UDPWrap')).toBe(sockets + 3); // the peer, its stranger socket, the client
    await client.close();
    client = undefined;
    await peer.close();
    peer = undefined;
    expect(await activeResources('UDPWrap')).toBe(sockets);
    await expect(settlesTo('Timeout', timers, 200)).resolves.toBe(true);
  });
});
