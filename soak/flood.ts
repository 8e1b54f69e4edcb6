/**
 * The flood: unsolicited datagrams at the local ports of live sessions while real requests run.
 *
 *   client sessions ──── real CON GETs ─────────► flood peer (answers each with a piggybacked 2.05 echoing the id)
 *          ▲ ▲ ▲
 *          │ │ └── half of the flood, from the flood peer's own socket (the session's peer address and port)
 *          │ └──── the other half, from strangers: 127.0.0.2, 127.0.0.3, another port of 127.0.0.1
 *
 * The unsolicited mix (from both): NON and CON responses with unknown tokens, piggybacked and empty ACKs and
 * RSTs with message IDs no live exchange holds, pings, empty NONs, a replayed old response, garbage, truncated
 * headers, a CON with a reserved option delta. Message IDs from the peer keep 8,192 away from the last one the
 * client used: a guessed *live* MID is what the spoofing specs test; here the datagrams are unsolicited.
 *
 * Measured: real responses delivered (each to its own request), heap with forced GCs before, every 10,000
 * datagrams and after (`node --expose-gc`), and what the sessions reported (bad-packet, rejected).
 */
import { createSocket, type RemoteInfo, type Socket } from 'node:dgram';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { filter, firstValueFrom, type Subscription } from 'rxjs';
import {
  CoapContext,
  EMPTY_CODE,
  MessageType,
  OptionNumber,
  ResponseCode,
  createPdu,
  decodeDatagram,
  decodeString,
  encodeDatagram,
  encodeString,
  getOption,
  isRequestCode,
  type ClientSession,
  isUnixPeer,
  type IpPeerAddress,
  type SessionEvent,
  type TransmissionParameters,
} from '../src/node';
import { errorName, sleep, settledHeap, Tally } from './measure';

/** Options of {@link runFlood}. */
export interface FloodOptions {
  readonly datagrams: number;
  readonly sessions: number;
  readonly transmission: Partial<TransmissionParameters>;
}

/** What the flood measured. */
export interface FloodResult {
  readonly datagrams: number;
  readonly fromPeer: number;
  readonly fromStrangers: number;
  readonly seconds: number;
  readonly requests: number;
  readonly requestsOk: number;
  readonly requestFailures: Tally;
  readonly wrongDelivered: number;
  readonly heapBefore: number;
  readonly heapMax: number;
  readonly heapAfter: number;
  readonly badPackets: number;
  readonly rejected: number;
  readonly resetsAtPeer: number;
  /** Kernel UDP counters over the flood (this network namespace): receive buffer full, no matching socket. */
  readonly kernel: UdpCounters | undefined;
  readonly problems: string[];
}

/** Linux UDP counters of /proc/net/snmp (per network namespace). */
export interface UdpCounters {
  readonly received: number;
  readonly noPort: number;
  readonly bufferFull: number;
}

function udpCounters(): UdpCounters | undefined {
  try {
    const lines = readFileSync('/proc/net/snmp', 'utf8').split('\n').filter((line) => line.startsWith('Udp:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/).map(Number);
    const value = (name: string): number => values[names.indexOf(name)];
    return { received: value('InDatagrams'), noPort: value('NoPorts'), bufferFull: value('RcvbufErrors') };
  } catch {
    return undefined;
  }
}

function bindSocket(address: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = createSocket('udp4');
    socket.once('error', reject);
    socket.bind(0, address, () => {
      socket.off('error', reject);
      socket.on('error', () => undefined);
      resolve(socket);
    });
  });
}

function closeSocket(socket: Socket): Promise<void> {
  return new Promise((resolve) => socket.close(() => resolve()));
}

/** A minimal server: a piggybacked 2.05 with the Uri-Query as body for every CON request; counts RSTs. */
class FloodPeer {
  resets = 0;
  /** Last message ID each client endpoint used, so the flood can stay clear of live ones. */
  readonly lastMessageId = new Map<number, number>();
  /** One real response per client port, replayed later as an old duplicate. */
  readonly oldResponse = new Map<number, Uint8Array>();

  constructor(readonly socket: Socket) {
    socket.on('message', (message, remote) => this.#onMessage(message, remote));
  }

  get address(): IpPeerAddress {
    const { address, port } = this.socket.address();
    return { host: address, port };
  }

  #onMessage(message: Buffer, remote: RemoteInfo): void {
    let pdu;
    try {
      pdu = decodeDatagram(new Uint8Array(message.buffer, message.byteOffset, message.length));
    } catch {
      return;
    }
    if (pdu.type === MessageType.RST) {
      this.resets++;
      return;
    }
    if (pdu.type !== MessageType.CON || !isRequestCode(pdu.code)) return;
    this.lastMessageId.set(remote.port, pdu.messageId);
    const query = getOption(pdu, OptionNumber.UriQuery);
    const response = encodeDatagram(
      createPdu({
        type: MessageType.ACK,
        code: ResponseCode.Content,
        messageId: pdu.messageId,
        token: pdu.token,
        payload: query === undefined ? encodeString('') : encodeString(decodeString(query)),
      }),
    );
    if (!this.oldResponse.has(remote.port)) this.oldResponse.set(remote.port, response);
    this.socket.send(response, remote.port, remote.address);
  }
}

/** Message IDs far from the client's recent and next ones (sequential allocation, RFC 7252 §4.4). */
function unusedMessageId(peer: FloodPeer, port: number): number {
  const last = peer.lastMessageId.get(port) ?? 0;
  return (last + 8192 + Math.floor(Math.random() * 49152)) & 0xffff;
}

const FLOOD_KINDS = 11;

/** The `kind`-th unsolicited datagram for the client on `port`. */
function unsolicited(kind: number, peer: FloodPeer, port: number): Uint8Array {
  const messageId = unusedMessageId(peer, port);
  const token = new Uint8Array(randomBytes(8));
  const content = ResponseCode.Content;
  switch (kind) {
    case 0:
      return encodeDatagram(createPdu({ type: MessageType.NON, code: content, messageId, token, payload: encodeString('unsolicited') }));
    case 1:
      return encodeDatagram(createPdu({ type: MessageType.CON, code: content, messageId, token, payload: encodeString('unsolicited') }));
    case 2:
      return encodeDatagram(createPdu({ type: MessageType.ACK, code: content, messageId, token, payload: encodeString('unsolicited') }));
    case 3:
      return encodeDatagram(createPdu({ type: MessageType.ACK, code: EMPTY_CODE, messageId }));
    case 4:
      return encodeDatagram(createPdu({ type: MessageType.RST, code: EMPTY_CODE, messageId }));
    case 5:
      return encodeDatagram(createPdu({ type: MessageType.CON, code: EMPTY_CODE, messageId })); // ping: answered with RST
    case 6:
      return encodeDatagram(createPdu({ type: MessageType.NON, code: EMPTY_CODE, messageId }));
    case 7:
      return peer.oldResponse.get(port) ?? new Uint8Array(randomBytes(12));
    case 8:
      return new Uint8Array(randomBytes(1 + Math.floor(Math.random() * 64)));
    case 9:
      return Uint8Array.of(0x40 | 0x08, 0x45, messageId >> 8, messageId & 0xff, 1, 2, 3); // TKL 8, 3 token bytes
    default:
      // CON 2.05 with option delta 15 (reserved, RFC 7252 §3.1): a format error, RST when the MID is readable.
      return Uint8Array.of(0x40, 0x45, messageId >> 8, messageId & 0xff, 0xf0, 0x00);
  }
}

/** Sends `datagrams` unsolicited datagrams while the sessions keep requesting; see the file comment. */
export async function runFlood(options: FloodOptions): Promise<FloodResult> {
  const peer = new FloodPeer(await bindSocket('127.0.0.1'));
  const strangers = await Promise.all(['127.0.0.2', '127.0.0.3', '127.0.0.1'].map(bindSocket));
  const context = new CoapContext({ transmission: options.transmission });
  const subscriptions: Subscription[] = [];
  try {
    const server = `coap://127.0.0.1:${peer.address.port}`;
    const sessions = Array.from({ length: options.sessions }, () => context.newClientSession({ server }));
    let badPackets = 0;
    let rejected = 0;
    for (const session of sessions) {
      subscriptions.push(
        session.events$.subscribe((event: SessionEvent) => {
          if (event.type === 'bad-packet') badPackets++;
          else if (event.type === 'rejected') rejected++;
        }),
      );
    }
    const ports: number[] = [];
    for (const session of sessions) {
      const connected = firstValueFrom(session.events$.pipe(filter((e): e is Extract<SessionEvent, { type: 'connected' }> => e.type === 'connected')));
      await firstValueFrom(session.get('/warm', { query: 'warm' }));
      const local = (await connected).local;
      if (!isUnixPeer(local)) ports.push(local.port);
    }

    // Real traffic: NSTART lanes per session, until the flood is over.
    let flooding = true;
    let nextId = 0;
    let ok = 0;
    let wrong = 0;
    const failures = new Tally();
    const one = (session: ClientSession): Promise<void> =>
      new Promise((resolve) => {
        const id = String(nextId++);
        let delivered = 0;
        const watchdog = setTimeout(() => {
          subscription.unsubscribe();
          failures.add('hung');
          resolve();
        }, 20_000);
        const subscription = session.get('/echo', { query: id }).subscribe({
          next: (response) => {
            delivered++;
            if (delivered > 1 || response.text() !== id) wrong++;
          },
          error: (error: unknown) => {
            clearTimeout(watchdog);
            failures.add(errorName(error));
            resolve();
          },
          complete: () => {
            clearTimeout(watchdog);
            if (delivered === 1) ok++;
            resolve();
          },
        });
      });
    const nstart = options.transmission.nstart ?? 1;
    const lanes = sessions.flatMap((session) =>
      Array.from({ length: nstart }, async () => {
        while (flooding) await one(session);
      }),
    );

    const heapBefore = await settledHeap();
    let heapMax = heapBefore;
    const countersBefore = udpCounters();
    const started = performance.now();
    let fromPeer = 0;
    let fromStrangers = 0;
    const batch = 200;
    for (let sent = 0; sent < options.datagrams; ) {
      const end = Math.min(options.datagrams, sent + batch);
      for (; sent < end; sent++) {
        const port = ports[sent % ports.length];
        const bytes = unsolicited(Math.floor(sent / 2) % FLOOD_KINDS, peer, port);
        if (sent % 2 === 0) {
          peer.socket.send(bytes, port, '127.0.0.1');
          fromPeer++;
        } else {
          strangers[(sent >> 1) % strangers.length].send(bytes, port, '127.0.0.1');
          fromStrangers++;
        }
      }
      // Let the sockets drain and the real requests run between batches.
      await new Promise((resolve) => setImmediate(resolve));
      if (sent % 10_000 === 0) heapMax = Math.max(heapMax, await settledHeap());
    }
    const seconds = (performance.now() - started) / 1000;
    await sleep(200); // the last datagrams land
    const countersAfter = udpCounters();
    const kernel =
      countersBefore === undefined || countersAfter === undefined
        ? undefined
        : {
            received: countersAfter.received - countersBefore.received,
            noPort: countersAfter.noPort - countersBefore.noPort,
            bufferFull: countersAfter.bufferFull - countersBefore.bufferFull,
          };
    flooding = false;
    await Promise.all(lanes);
    for (const session of sessions) session.release();
    const heapAfter = await settledHeap();

    const problems: string[] = [];
    for (const name of failures.names()) problems.push(`requests: ${name}`);
    if (wrong > 0) problems.push(`${wrong} wrong responses delivered`);
    if (ok === 0) problems.push('no real response delivered');
    if (heapMax - heapBefore > 16 * 1024 * 1024) problems.push('heap grew more than 16 MiB');
    return {
      datagrams: fromPeer + fromStrangers,
      fromPeer,
      fromStrangers,
      seconds,
      requests: nextId,
      requestsOk: ok,
      requestFailures: failures,
      wrongDelivered: wrong,
      heapBefore,
      heapMax,
      heapAfter,
      badPackets,
      rejected,
      resetsAtPeer: peer.resets,
      kernel,
      problems,
    };
  } finally {
    for (const subscription of subscriptions) subscription.unsubscribe();
    await context.free();
    await Promise.all([peer.socket, ...strangers].map(closeSocket));
  }
}
