/**
 * A fake DTLS 1.2 server on loopback for the dtls part: it reads what the client sends (ClientHello with or
 * without cookie, ClientKeyExchange, ChangeCipherSpec, Finished) and answers with a seeded mix of plausible
 * flights (HelloVerifyRequest, ServerHello + ServerKeyExchange + ServerHelloDone, ChangeCipherSpec + a Finished
 * that cannot verify) and hostile ones: garbage, truncated records, wrong versions, huge lengths, bad fragment
 * offsets, alerts, unknown record types, early epochs, many records in one datagram, and byte mutations of all
 * of them; now and then from a stranger's port. It never completes a handshake (it has no keys): the client
 * must end every attempt with a typed error, never crash or hang.
 *
 *   record:    type(1) version(2) epoch(2) sequence(6) length(2) fragment
 *   handshake: msg_type(1) length(3) message_seq(2) fragment_offset(3) fragment_length(3) body
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { bindLoopbackSocket } from '../src/testing/loopback';
import { ByteWriter } from '../src/testing/hostile-framing';
import { chance, mutateBytes, pick, randomBytes, randomInt } from '../src/testing/mutate';
import { seededRandom, type RandomSource } from '../src/testing/seeded-random';

const HANDSHAKE = 22;
const CHANGE_CIPHER_SPEC = 20;
const ALERT = 21;
const APPLICATION_DATA = 23;
const DTLS_1_2 = 0xfefd;

const HELLO_VERIFY_REQUEST = 3;
const SERVER_HELLO = 2;
const SERVER_KEY_EXCHANGE = 12;
const SERVER_HELLO_DONE = 14;

/** What the client sent, as far as the fake server cares. */
type ClientFlight = 'hello' | 'hello-with-cookie' | 'key-exchange' | 'other';

interface RecordFields {
  type: number;
  version?: number;
  epoch?: number;
  sequence?: number;
  /** A length field that lies. */
  length?: number;
}

function record(fields: RecordFields, fragment: Uint8Array): Uint8Array {
  const out = new ByteWriter();
  out.push(fields.type);
  const version = fields.version ?? DTLS_1_2;
  out.push(version >> 8);
  out.push(version);
  const epoch = fields.epoch ?? 0;
  out.push(epoch >> 8);
  out.push(epoch);
  const sequence = fields.sequence ?? 0;
  out.pushBytes([0, 0, Math.floor(sequence / 2 ** 24) & 0xff, (sequence >>> 16) & 0xff, (sequence >>> 8) & 0xff, sequence & 0xff]);
  const length = fields.length ?? fragment.length;
  out.push(length >> 8);
  out.push(length);
  out.pushBytes(fragment);
  return out.toBytes();
}

interface HandshakeFields {
  messageSeq: number;
  /** Lies about the lengths and the fragment. */
  length?: number;
  fragmentOffset?: number;
  fragmentLength?: number;
}

function handshake(type: number, body: Uint8Array, fields: HandshakeFields): Uint8Array {
  const out = new ByteWriter();
  const u24 = (value: number): void => out.pushBytes([(value >>> 16) & 0xff, (value >>> 8) & 0xff, value & 0xff]);
  out.push(type);
  u24(fields.length ?? body.length);
  out.push(fields.messageSeq >> 8);
  out.push(fields.messageSeq);
  u24(fields.fragmentOffset ?? 0);
  u24(fields.fragmentLength ?? body.length);
  out.pushBytes(body);
  return out.toBytes();
}

function concat(parts: readonly Uint8Array[]): Uint8Array {
  const out = new ByteWriter();
  for (const part of parts) out.pushBytes(part);
  return out.toBytes();
}

/** Reads the client's datagram: which flight it is, and the suites a ClientHello offers. */
function readClient(datagram: Uint8Array): { flight: ClientFlight; suites: number[] } {
  const suites: number[] = [];
  if (datagram.length < 13) return { flight: 'other', suites };
  const type = datagram[0];
  const epoch = (datagram[3] << 8) | datagram[4];
  if (type === CHANGE_CIPHER_SPEC || epoch > 0) return { flight: 'key-exchange', suites };
  if (type !== HANDSHAKE || datagram.length < 25) return { flight: 'other', suites };
  const messageType = datagram[13];
  if (messageType === 16) return { flight: 'key-exchange', suites };
  if (messageType !== 1) return { flight: 'other', suites };
  // ClientHello body at 25: version(2) random(32) session_id(1+n) cookie(1+n) cipher_suites(2+n)
  let offset = 25 + 2 + 32;
  if (offset >= datagram.length) return { flight: 'hello', suites };
  offset += 1 + datagram[offset];
  if (offset >= datagram.length) return { flight: 'hello', suites };
  const cookieLength = datagram[offset];
  offset += 1 + cookieLength;
  if (offset + 2 <= datagram.length) {
    const length = (datagram[offset] << 8) | datagram[offset + 1];
    for (let i = offset + 2; i + 1 < Math.min(datagram.length, offset + 2 + length); i += 2) suites.push((datagram[i] << 8) | datagram[i + 1]);
  }
  return { flight: cookieLength > 0 ? 'hello-with-cookie' : 'hello', suites };
}

/** Counters of the fake DTLS server. */
export interface FakeDtlsStats {
  received: number;
  sent: number;
  readonly flights: Record<string, number>;
}

/** A running fake DTLS server. */
export interface FakeDtlsServer {
  readonly port: number;
  readonly stats: FakeDtlsStats;
  /** The last datagrams sent (kind and bytes), for failure reports. */
  recent(): readonly { kind: string; frame: Uint8Array }[];
  close(): Promise<void>;
}

const ALERT_DESCRIPTIONS = [0, 10, 20, 40, 42, 47, 50, 51, 70, 80, 90, 110, 115, 255];

/** Starts the fake DTLS server on 127.0.0.1 (a free port). */
export async function startFakeDtlsServer(seed: number): Promise<FakeDtlsServer> {
  const random: RandomSource = seededRandom(seed);
  const socket: Socket = createSocket({ type: 'udp4' });
  const stranger: Socket = createSocket({ type: 'udp4' });
  const stats: FakeDtlsStats = { received: 0, sent: 0, flights: {} };
  const recent: { kind: string; frame: Uint8Array }[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let closed = false;
  let serverSequence = 0;

  const send = (kind: string, frame: Uint8Array, remote: RemoteInfo, delay: number): void => {
    const write = (): void => {
      if (closed) return;
      const from = chance(random, 0.03) ? stranger : socket;
      from.send(frame, remote.port, remote.address, () => undefined);
      stats.sent++;
      stats.flights[kind] = (stats.flights[kind] ?? 0) + 1;
      recent.push({ kind: from === stranger ? `${kind} (stranger)` : kind, frame });
      if (recent.length > 8) recent.shift();
    };
    if (delay <= 0) write();
    else {
      const timer = setTimeout(() => {
        timers.delete(timer);
        write();
      }, delay);
      timers.add(timer);
    }
  };

  const next = (): number => serverSequence++;

  const helloVerifyRequest = (): Uint8Array => {
    const cookie = randomBytes(random, randomInt(random, 1, 32));
    return record({ type: HANDSHAKE, sequence: next() }, handshake(HELLO_VERIFY_REQUEST, Uint8Array.of(0xfe, 0xfd, cookie.length, ...cookie), { messageSeq: 0 }));
  };

  /** ServerHello, ServerKeyExchange (PSK hint), ServerHelloDone: as one datagram, or one per record, sometimes fragmented. */
  const serverFlight = (suites: readonly number[]): Uint8Array[] => {
    const suite = suites.length > 0 && chance(random, 0.8) ? pick(random, suites) : pick(random, [0xc0a8, 0x00a8, 0xc0a4, 0x1234, 0x0000]);
    const hello = concat([Uint8Array.of(0xfe, 0xfd), randomBytes(random, 32), Uint8Array.of(0), Uint8Array.of(suite >> 8, suite & 0xff, 0)]);
    const hint = new TextEncoder().encode(pick(random, ['', 'hint', 'CoAP', 'x'.repeat(100)]));
    const messages = [
      handshake(SERVER_HELLO, hello, { messageSeq: 1 }),
      handshake(SERVER_KEY_EXCHANGE, concat([Uint8Array.of(hint.length >> 8, hint.length & 0xff), hint]), { messageSeq: 2 }),
      handshake(SERVER_HELLO_DONE, new Uint8Array(0), { messageSeq: 3 }),
    ];
    if (chance(random, 0.2)) {
      // The ServerHello in two fragments (RFC 6347 §4.2.3).
      const body = hello;
      const cut = randomInt(random, 1, body.length - 1);
      messages.splice(
        0,
        1,
        handshake(SERVER_HELLO, body.subarray(0, cut), { messageSeq: 1, length: body.length, fragmentOffset: 0, fragmentLength: cut }),
        handshake(SERVER_HELLO, body.subarray(cut), { messageSeq: 1, length: body.length, fragmentOffset: cut, fragmentLength: body.length - cut }),
      );
    }
    const records = messages.map((message) => record({ type: HANDSHAKE, sequence: next() }, message));
    return chance(random, 0.5) ? [concat(records)] : records;
  };

  /** ChangeCipherSpec and an epoch-1 "Finished" that cannot decrypt. */
  const finishedFlight = (): Uint8Array[] => [
    concat([record({ type: CHANGE_CIPHER_SPEC, sequence: next() }, Uint8Array.of(1)), record({ type: HANDSHAKE, epoch: 1, sequence: 0 }, randomBytes(random, randomInt(random, 8, 48)))]),
  ];

  const hostile = (): { kind: string; frames: Uint8Array[] } => {
    const valid = helloVerifyRequest();
    switch (randomInt(random, 0, 15)) {
      case 0:
        return { kind: 'garbage', frames: [randomBytes(random, randomInt(random, 0, 200))] };
      case 1:
        return { kind: 'bad-version', frames: [record({ type: HANDSHAKE, version: pick(random, [0x0303, 0xfeff, 0x0000, 0xffff, 0x0100]) }, valid.subarray(13))] };
      case 2:
        return { kind: 'huge-length', frames: [record({ type: HANDSHAKE, length: pick(random, [0xffff, 0x4000, 0x2000]) }, valid.subarray(13))] };
      case 3:
        return { kind: 'truncated-header', frames: [valid.subarray(0, randomInt(random, 1, 12))] };
      case 4:
        return { kind: 'truncated-handshake', frames: [record({ type: HANDSHAKE }, handshake(HELLO_VERIFY_REQUEST, Uint8Array.of(0xfe, 0xfd, 32, 1, 2), { messageSeq: 0, length: 1000 }))] };
      case 5:
        return {
          kind: 'bad-fragment',
          frames: [record({ type: HANDSHAKE }, handshake(pick(random, [HELLO_VERIFY_REQUEST, SERVER_HELLO, SERVER_HELLO_DONE]), randomBytes(random, 8), { messageSeq: randomInt(random, 0, 3), length: 8, fragmentOffset: randomInt(random, 1, 0xffffff), fragmentLength: randomInt(random, 0, 0xffffff) }))],
        };
      case 6:
        return { kind: 'alert', frames: [record({ type: ALERT, sequence: next() }, Uint8Array.of(pick(random, [1, 2, 255]), pick(random, ALERT_DESCRIPTIONS)))] };
      case 7:
        return { kind: 'ccs-early', frames: [record({ type: CHANGE_CIPHER_SPEC, sequence: next() }, Uint8Array.of(pick(random, [1, 0, 2])))] };
      case 8:
        return { kind: 'epoch-jump', frames: [record({ type: pick(random, [HANDSHAKE, APPLICATION_DATA, ALERT]), epoch: randomInt(random, 1, 0xffff), sequence: randomInt(random, 0, 2 ** 40) }, randomBytes(random, randomInt(random, 0, 64)))] };
      case 9:
        return { kind: 'appdata-early', frames: [record({ type: APPLICATION_DATA }, randomBytes(random, randomInt(random, 0, 64)))] };
      case 10:
        return { kind: 'unknown-type', frames: [record({ type: pick(random, [0, 19, 24, 25, 255]) }, randomBytes(random, randomInt(random, 0, 32)))] };
      case 11:
        return { kind: 'hvr-bad-cookie', frames: [record({ type: HANDSHAKE }, handshake(HELLO_VERIFY_REQUEST, Uint8Array.of(0xfe, 0xfd, 255, 1, 2, 3), { messageSeq: 0 }))] };
      case 12: {
        // A server flight with bytes broken (suite, compression, session ID length, hint length, fragment fields...).
        const flight = concat(serverFlight([]));
        return { kind: 'server-flight-mutated', frames: [mutateBytes(flight, random).frame] };
      }
      case 13: {
        const records: Uint8Array[] = [];
        for (let count = randomInt(random, 10, 50); count > 0; count--) records.push(record({ type: pick(random, [HANDSHAKE, ALERT, APPLICATION_DATA]), sequence: next() }, randomBytes(random, randomInt(random, 0, 8))));
        return { kind: 'many-records', frames: [concat(records)] };
      }
      case 14:
        return { kind: 'mutated', frames: [mutateBytes(valid, random).frame] };
      default:
        return { kind: 'finished-garbage', frames: finishedFlight() };
    }
  };

  const onDatagram = (message: Buffer, remote: RemoteInfo): void => {
    if (closed) return;
    stats.received++;
    const { flight, suites } = readClient(new Uint8Array(message.buffer, message.byteOffset, message.length));
    const plausible = chance(random, 0.45);
    const delay = chance(random, 0.2) ? randomInt(random, 1, 30) : 0;
    if (chance(random, 0.08)) return; // dropped: the client retries with a new attempt
    let kind: string;
    let frames: Uint8Array[];
    if (plausible && flight === 'hello') [kind, frames] = ['hello-verify-request', [helloVerifyRequest()]];
    else if (plausible && flight === 'hello-with-cookie') [kind, frames] = ['server-flight', serverFlight(suites)];
    else if (plausible && flight === 'key-exchange') [kind, frames] = ['finished', finishedFlight()];
    else ({ kind, frames } = hostile());
    // Now and then, a byte mutation of whatever was chosen, or the same again (a duplicate).
    if (chance(random, 0.1)) frames = frames.map((frame) => mutateBytes(frame, random).frame);
    if (chance(random, 0.05)) frames = [...frames, ...frames];
    frames.forEach((frame, index) => send(kind, frame, remote, delay + index));
  };

  await bindLoopbackSocket(socket, '127.0.0.1', 0, onDatagram);
  await bindLoopbackSocket(stranger, '127.0.0.1', 0, () => undefined);
  const port = socket.address().port;
  return {
    port,
    stats,
    recent: () => [...recent],
    close: async () => {
      closed = true;
      for (const timer of timers) clearTimeout(timer);
      timers.clear();
      await Promise.all([socket, stranger].map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    },
  };
}
