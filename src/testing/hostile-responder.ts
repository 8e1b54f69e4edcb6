/**
 * The hostile peer's brain, free of sockets and timers: a small CoAP server (a few fixed resources, Observe,
 * Block1 and Block2) whose every answer passes through a seeded dice roll. Some answers are correct, so
 * exchanges progress (block-wise transfers reach later blocks, observations get notifications); the others
 * are mutated (`mutate.ts`), dropped, duplicated, late, spoofed, or come with unsolicited company.
 *
 * A transport drives it: it hands every frame it receives to {@link HostileResponder.receive}, calls
 * {@link HostileResponder.tick} on a timer for notifications and unsolicited datagrams, and sends what they
 * return after each `delay`. `hostile-peer.ts` does this over UDP; the fuzz runner does it over the fake
 * transport in virtual time; a TCP or WebSocket peer would pass its own {@link HostileFraming}.
 *
 * Resources:
 * - `/small`: GET/FETCH a short text; PUT/POST/DELETE answer 2.04/2.02.
 * - `/large`: GET/FETCH a body of `largeBodySize` bytes in Block2 blocks of at most `blockSize` (RFC 7959 §2.4).
 * - `/obs`: observable (RFC 7641), a short text per notification.
 * - `/obs-large`: observable, notifications bigger than one block (the client fetches the rest, RFC 7959 §2.6).
 * - `/upload`: PUT/POST, Block1 (RFC 7959 §2.5): 2.31 Continue per block, 2.04 at the end.
 * Anything else: 4.04. An empty CON (CoAP ping, RFC 7252 §4.3) is answered with RST.
 */
import { decodeBlock, encodeBlock, sizeToSzx, blockSize as sizeOfSzx } from '../codec/block';
import { OptionNumber } from '../codec/option-numbers';
import { decodeString, decodeUint, encodeUint } from '../codec/option-values';
import { EMPTY_BYTES, Method, MessageType, ResponseCode, SignalCode, getOption, getOptions, tokenToHex, withOption, type CoapOption, type CoapPdu } from '../codec/pdu';
import { datagramFraming, rawFromPdu, writeRawBody, type HostileFraming } from './hostile-framing';
import { chance, mutateResponse, pick, randomBytes, randomFrame, randomInt, spoofedAck, type MutationKind } from './mutate';
import { seededRandom, type RandomSource } from './seeded-random';

/** Options of {@link createHostileResponder}. */
export interface HostileResponderOptions {
  /** Seed of every choice the responder makes. @defaultValue 1 */
  readonly seed?: number;
  /** How the transport frames messages. @defaultValue {@link datagramFraming} */
  readonly framing?: HostileFraming;
  /** Share (0..1) of requests and notifications answered correctly, unmutated. @defaultValue 0.5 */
  readonly correctRate?: number;
  /** Size of `/large`, in bytes. @defaultValue 3000 */
  readonly largeBodySize?: number;
  /** Largest Block1/Block2 size the responder uses (16..1024). @defaultValue 256 */
  readonly blockSize?: number;
  /** Delay of a "late" answer, in milliseconds (it is drawn between 1 and 3 times this). @defaultValue 60 */
  readonly lateDelay?: number;
  /** Delay of a separate response after its empty ACK, in milliseconds. @defaultValue 5 */
  readonly separateDelay?: number;
  /** Notifications per observation before the responder falls silent for it. @defaultValue 8 */
  readonly notificationsPerObservation?: number;
  /** Probability per tick and observation of a notification. @defaultValue 0.6 */
  readonly notifyRate?: number;
  /** Probability per tick of an unsolicited datagram to a known endpoint. @defaultValue 0.3 */
  readonly unsolicitedRate?: number;
  /** Client endpoints remembered (least recently seen forgotten first). @defaultValue 1024 */
  readonly maxEndpoints?: number;
}

/** A frame for a client endpoint, to be sent `delay` milliseconds from now. */
export interface HostileDatagram {
  /** The endpoint key the frame came from (as given to `receive`). */
  readonly endpoint: string;
  readonly frame: Uint8Array;
  readonly delay: number;
  /** What it is: `'correct'`, a mutation kind, `'spoofed-ack'`, `'unsolicited-rst'`... */
  readonly kind: string;
}

/** Counters of a hostile responder. */
export interface HostileStats {
  /** Frames received. */
  received: number;
  /** Frames received that did not decode. */
  malformed: number;
  /** Requests (and pings) received. */
  requests: number;
  /** Frames sent, by kind. */
  readonly sent: Record<string, number>;
  /** Requests by the behaviour chosen for them. */
  readonly behaviours: Record<string, number>;
  /** Notifications sent (correct or not). */
  notifications: number;
  /** Highest Block2 number served (shows block-wise transfers get far). */
  maxBlock2: number;
  /** Block1 uploads answered with their final 2.04. */
  block1Completed: number;
}

/** The framing-agnostic core of a hostile peer. */
export interface HostileResponder {
  /** Handles a frame from `endpoint`; returns what to send back. */
  receive(frame: Uint8Array, endpoint: string): HostileDatagram[];
  /** Notifications and unsolicited datagrams due now; call it on a timer. */
  tick(): HostileDatagram[];
  /** Forgets an endpoint (its client went away) and its observations. */
  forget(endpoint: string): void;
  /** Live observations. */
  readonly observations: number;
  readonly stats: HostileStats;
}

/** The behaviours a request can get (beside 'correct'), with their weights. */
const BEHAVIOURS = [
  ['mutated', 30],
  ['mutated-then-correct', 22],
  ['spoofed-ack', 8],
  ['drop', 5],
  ['duplicate', 8],
  ['late', 6],
  ['separate', 8],
  ['separate-mutated', 5],
  ['separate-lost', 3],
  ['reset', 2],
  ['other-token', 4],
] as const;
type Behaviour = (typeof BEHAVIOURS)[number][0] | 'correct';
const BEHAVIOUR_TOTAL = BEHAVIOURS.reduce((sum, [, weight]) => sum + weight, 0);

const UNSOLICITED = [
  'unsolicited-con-notification',
  'unsolicited-non',
  'unsolicited-rst',
  'unsolicited-ack',
  'unsolicited-garbage',
  'unsolicited-ping',
  'unsolicited-request',
  'replay',
] as const;

/** Recent tokens, message IDs and frames of one client endpoint. */
interface Endpoint {
  readonly key: string;
  readonly tokens: Uint8Array[];
  readonly messageIds: number[];
  readonly frames: Uint8Array[];
  /** Version of `/obs-large` as this endpoint sees it (changes per notification: ETag changes too). */
  largeVersion: number;
  /** RFC 8323 §5.3: a stream peer sends its CSM first. */
  csmSent: boolean;
}

interface Observation {
  readonly key: string;
  readonly endpoint: Endpoint;
  readonly token: Uint8Array;
  readonly path: string;
  readonly request: CoapPdu;
  readonly szx: number;
  sequence: number;
  remaining: number;
}

interface ResponseParts {
  readonly code: number;
  readonly options: CoapOption[];
  readonly payload: Uint8Array;
}

const encoder = new TextEncoder();
const RING = 8;

function remember<T>(ring: T[], value: T): void {
  ring.push(value);
  if (ring.length > RING) ring.shift();
}

function text(value: string): Uint8Array {
  return encoder.encode(value);
}

function pathOf(pdu: CoapPdu): string {
  let path = '';
  for (const segment of getOptions(pdu, OptionNumber.UriPath)) path += '/' + decodeString(segment);
  return path === '' ? '/' : path;
}

function patternBody(size: number, seedByte: number): Uint8Array {
  const body = new Uint8Array(size);
  for (let i = 0; i < size; i++) body[i] = 0x61 + ((i + seedByte) % 26);
  return body;
}

/**
 * Creates the framing-agnostic hostile responder.
 * @param options - see {@link HostileResponderOptions}
 */
export function createHostileResponder(options: HostileResponderOptions = {}): HostileResponder {
  return new Responder(options);
}

class Responder implements HostileResponder {
  readonly stats: HostileStats = { received: 0, malformed: 0, requests: 0, sent: {}, behaviours: {}, notifications: 0, maxBlock2: 0, block1Completed: 0 };
  readonly #random: RandomSource;
  readonly #framing: HostileFraming;
  readonly #correctRate: number;
  readonly #large: Uint8Array;
  readonly #maxSzx: number;
  readonly #lateDelay: number;
  readonly #separateDelay: number;
  readonly #perObservation: number;
  readonly #notifyRate: number;
  readonly #unsolicitedRate: number;
  readonly #maxEndpoints: number;
  readonly #endpoints = new Map<string, Endpoint>();
  /** Endpoint keys in an array too, for a uniform random pick. */
  #endpointKeys: string[] = [];
  readonly #observations = new Map<string, Observation>();
  /** endpoint|MID of our notifications -> observation key, so an RST cancels (RFC 7641 §3.6). */
  readonly #notificationIds = new Map<string, string>();
  #messageId: number;

  constructor(options: HostileResponderOptions) {
    this.#random = seededRandom(options.seed ?? 1);
    this.#framing = options.framing ?? datagramFraming;
    this.#correctRate = options.correctRate ?? 0.5;
    this.#large = patternBody(options.largeBodySize ?? 3000, 0);
    this.#maxSzx = sizeToSzx(options.blockSize ?? 256);
    this.#lateDelay = options.lateDelay ?? 60;
    this.#separateDelay = options.separateDelay ?? 5;
    this.#perObservation = options.notificationsPerObservation ?? 8;
    this.#notifyRate = options.notifyRate ?? 0.6;
    this.#unsolicitedRate = options.unsolicitedRate ?? 0.3;
    this.#maxEndpoints = options.maxEndpoints ?? 1024;
    this.#messageId = Math.floor(this.#random() * 0x10000);
  }

  get observations(): number {
    return this.#observations.size;
  }

  receive(frame: Uint8Array, endpointKey: string): HostileDatagram[] {
    this.stats.received++;
    const endpoint = this.#endpoint(endpointKey);
    let pdu: CoapPdu;
    try {
      pdu = this.#framing.decode(frame);
    } catch {
      this.stats.malformed++;
      return [];
    }
    const out: HostileDatagram[] = [];
    if (!this.#framing.messageLayer && !endpoint.csmSent) {
      endpoint.csmSent = true;
      out.push(this.#datagram(endpoint, this.#encode({ type: 0, code: SignalCode.CSM, messageId: 0, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES }), 0, 'csm'));
    }
    if (pdu.type === MessageType.RST || (pdu.type === MessageType.ACK && this.#framing.messageLayer)) {
      // The client rejects or acknowledges one of ours: an RST ends the observation it answers.
      const observation = this.#notificationIds.get(`${endpointKey}|${pdu.messageId}`);
      if (observation !== undefined && pdu.type === MessageType.RST) this.#observations.delete(observation);
      return out;
    }
    remember(endpoint.messageIds, pdu.messageId);
    if (pdu.token.length > 0) remember(endpoint.tokens, pdu.token.slice());
    if (pdu.code === 0 || pdu.code === SignalCode.Ping) {
      this.stats.requests++;
      out.push(...this.#answerPing(endpoint, pdu));
      return out;
    }
    if (pdu.code >> 5 !== 0) return out; // a response or signal from the client: nothing to answer
    this.stats.requests++;
    const parts = this.#serve(pdu, endpoint);
    out.push(...this.#answer(endpoint, pdu, parts));
    return out;
  }

  tick(): HostileDatagram[] {
    const out: HostileDatagram[] = [];
    const random = this.#random;
    for (const observation of this.#observations.values()) {
      if (!chance(random, this.#notifyRate)) continue;
      out.push(...this.#notify(observation));
      if (--observation.remaining <= 0) this.#observations.delete(observation.key);
    }
    if (this.#endpointKeys.length > 0 && chance(random, this.#unsolicitedRate)) {
      const endpoint = this.#endpoints.get(pick(random, this.#endpointKeys));
      if (endpoint !== undefined) {
        const datagram = this.#unsolicited(endpoint);
        if (datagram !== undefined) out.push(datagram);
      }
    }
    return out;
  }

  forget(endpointKey: string): void {
    if (!this.#endpoints.delete(endpointKey)) return;
    this.#endpointKeys = this.#endpointKeys.filter((key) => key !== endpointKey);
    for (const [key, observation] of this.#observations) if (observation.endpoint.key === endpointKey) this.#observations.delete(key);
  }

  // ---- serving -----------------------------------------------------------------------------------

  #serve(request: CoapPdu, endpoint: Endpoint): ResponseParts {
    const path = pathOf(request);
    const method = request.code;
    const read = method === Method.GET || method === Method.FETCH;
    switch (path) {
      case '/small':
        if (read) return { code: ResponseCode.Content, options: [{ number: OptionNumber.ContentFormat, value: EMPTY_BYTES }], payload: method === Method.FETCH ? text(`fetched ${request.payload.length} bytes`) : text('hello from a hostile peer') };
        if (method === Method.DELETE) return { code: ResponseCode.Deleted, options: [], payload: EMPTY_BYTES };
        return { code: ResponseCode.Changed, options: [], payload: EMPTY_BYTES };
      case '/large':
        if (!read) return this.#error(ResponseCode.MethodNotAllowed, 'GET or FETCH only');
        return this.#blockwise(request, this.#large, Uint8Array.of(0x1a, 0x2b, 0x3c, 0x4d), []);
      case '/obs':
      case '/obs-large':
        if (!read) return this.#error(ResponseCode.MethodNotAllowed, 'GET or FETCH only');
        return this.#observe(request, endpoint, path);
      case '/upload':
        if (method !== Method.PUT && method !== Method.POST) return this.#error(ResponseCode.MethodNotAllowed, 'PUT or POST only');
        return this.#upload(request);
      default:
        return this.#error(ResponseCode.NotFound, `nothing at ${path}`);
    }
  }

  #error(code: number, diagnostic: string): ResponseParts {
    return { code, options: [], payload: text(diagnostic) };
  }

  /** RFC 7959 §2.4: the block the client asked for, at most our block size, with ETag and (on block 0) Size2. */
  #blockwise(request: CoapPdu, body: Uint8Array, etag: Uint8Array, extra: CoapOption[]): ResponseParts {
    const asked = getOption(request, OptionNumber.Block2);
    let szx = this.#maxSzx;
    let num = 0;
    if (asked !== undefined) {
      let block;
      try {
        block = decodeBlock(asked);
      } catch {
        return this.#error(ResponseCode.BadOption, 'bad Block2');
      }
      const askedSzx = Math.min(block.szx, 6);
      szx = Math.min(askedSzx, this.#maxSzx);
      num = Math.floor((block.num * sizeOfSzx(askedSzx)) / sizeOfSzx(szx));
    }
    const size = sizeOfSzx(szx);
    let options: CoapOption[] = [...extra, { number: OptionNumber.ContentFormat, value: EMPTY_BYTES }, { number: OptionNumber.ETag, value: etag }];
    if (asked === undefined && body.length <= size) return { code: ResponseCode.Content, options: sortedOptions(options), payload: body };
    const start = num * size;
    if (start >= body.length) return this.#error(ResponseCode.BadOption, `block ${num} is past the end`);
    const end = Math.min(body.length, start + size);
    this.stats.maxBlock2 = Math.max(this.stats.maxBlock2, num);
    options = withOption(sortedOptions(options), OptionNumber.Block2, [encodeBlock({ num, more: end < body.length, szx })]);
    if (num === 0 || getOption(request, OptionNumber.Size2) !== undefined) options = withOption(options, OptionNumber.Size2, [encodeUint(body.length)]);
    return { code: ResponseCode.Content, options, payload: body.subarray(start, end) };
  }

  #observe(request: CoapPdu, endpoint: Endpoint, path: string): ResponseParts {
    const observeValue = getOption(request, OptionNumber.Observe);
    const key = `${endpoint.key}|${tokenToHex(request.token)}`;
    let sequence: number | undefined;
    if (observeValue !== undefined && observeValue.length <= 3 && decodeUint(observeValue) === 0 && getOption(request, OptionNumber.Block2) === undefined) {
      // RFC 7641 §2: Observe 0 registers (again, with the same token: the same observation).
      const existing = this.#observations.get(key);
      const observation: Observation = existing ?? {
        key,
        endpoint,
        token: request.token.slice(),
        path,
        request,
        szx: this.#maxSzx,
        sequence: randomInt(this.#random, 0, 1000),
        remaining: this.#perObservation,
      };
      this.#observations.set(key, observation);
      if (this.#observations.size > this.#maxEndpoints * 2) this.#observations.delete(this.#observations.keys().next().value as string);
      sequence = observation.sequence = (observation.sequence + 1) & 0xffffff;
    } else if (observeValue !== undefined) {
      this.#observations.delete(key); // Observe 1 (or anything else): deregistration
    }
    const observeOptions: CoapOption[] = sequence === undefined ? [] : [{ number: OptionNumber.Observe, value: encodeUint(sequence) }];
    if (path === '/obs') {
      return { code: ResponseCode.Content, options: sortedOptions([...observeOptions, { number: OptionNumber.ContentFormat, value: EMPTY_BYTES }]), payload: text(`n=${sequence ?? 'now'}`) };
    }
    return this.#blockwise(request, this.#largeNotification(endpoint), Uint8Array.of(0x0b, endpoint.largeVersion & 0xff), observeOptions);
  }

  #largeNotification(endpoint: Endpoint): Uint8Array {
    return patternBody(700, endpoint.largeVersion);
  }

  #upload(request: CoapPdu): ResponseParts {
    const value = getOption(request, OptionNumber.Block1);
    if (value === undefined) return { code: ResponseCode.Changed, options: [], payload: EMPTY_BYTES };
    let block;
    try {
      block = decodeBlock(value);
    } catch {
      return this.#error(ResponseCode.BadOption, 'bad Block1');
    }
    // RFC 7959 §2.3: the server may ask for smaller blocks in its first answer.
    const szx = Math.min(block.szx, this.#maxSzx);
    if (block.more) return { code: ResponseCode.Continue, options: [{ number: OptionNumber.Block1, value: encodeBlock({ num: block.num, more: true, szx }) }], payload: EMPTY_BYTES };
    this.stats.block1Completed++;
    return { code: ResponseCode.Changed, options: [{ number: OptionNumber.Block1, value: encodeBlock({ num: block.num, more: false, szx: block.szx }) }], payload: EMPTY_BYTES };
  }

  // ---- answering ---------------------------------------------------------------------------------

  #answerPing(endpoint: Endpoint, ping: CoapPdu): HostileDatagram[] {
    const random = this.#random;
    const pong = this.#framing.messageLayer
      ? this.#encode({ type: MessageType.RST, code: 0, messageId: ping.messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES })
      : this.#encode({ type: 0, code: SignalCode.Pong, messageId: 0, token: ping.token, options: [], payload: EMPTY_BYTES });
    if (chance(random, this.#correctRate)) return [this.#datagram(endpoint, pong, 0, 'correct')];
    switch (randomInt(random, 0, 4)) {
      case 0:
        return [];
      case 1:
        return [this.#datagram(endpoint, pong, 0, 'correct'), this.#datagram(endpoint, pong, 1, 'duplicate')];
      case 2:
        return [this.#datagram(endpoint, pong, this.#lateDelay * (1 + 2 * random()), 'late')];
      case 3: {
        // An empty ACK instead of the RST, or an RST with another message ID.
        const type = chance(random, 0.5) ? MessageType.ACK : MessageType.RST;
        const messageId = type === MessageType.ACK ? ping.messageId : (ping.messageId + 1) & 0xffff;
        return [this.#datagram(endpoint, this.#encode({ type, code: 0, messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES }), 0, 'ping-odd-answer')];
      }
      default: {
        const mutation = mutateResponse(pong, ping, random, this.#framing);
        return [this.#datagram(endpoint, mutation.frame, 0, mutation.kind)];
      }
    }
  }

  #answer(endpoint: Endpoint, request: CoapPdu, parts: ResponseParts): HostileDatagram[] {
    const random = this.#random;
    const confirmable = request.type === MessageType.CON && this.#framing.messageLayer;
    const piggybacked: CoapPdu = {
      type: confirmable ? MessageType.ACK : MessageType.NON,
      code: parts.code,
      messageId: confirmable ? request.messageId : this.#nextMessageId(),
      token: request.token,
      options: parts.options,
      payload: parts.payload,
    };
    const correct = this.#encode(piggybacked);
    let behaviour: Behaviour = 'correct';
    if (!chance(random, this.#correctRate)) {
      let at = random() * BEHAVIOUR_TOTAL;
      for (const [name, weight] of BEHAVIOURS) {
        if ((at -= weight) < 0) {
          behaviour = name;
          break;
        }
      }
      // Without a message layer (TCP, WebSockets) there is no ACK to spoof and no separate response.
      if (!confirmable && (behaviour === 'spoofed-ack' || behaviour === 'separate' || behaviour === 'separate-mutated' || behaviour === 'separate-lost' || behaviour === 'reset')) {
        behaviour = 'mutated';
      }
    }
    this.stats.behaviours[behaviour] = (this.stats.behaviours[behaviour] ?? 0) + 1;
    const send = (frame: Uint8Array, delay: number, kind: string): HostileDatagram => this.#datagram(endpoint, frame, delay, kind);
    const mutated = (frame: Uint8Array): HostileDatagram => {
      const mutation = mutateResponse(frame, request, random, this.#framing);
      return send(mutation.frame, 0, mutation.kind);
    };
    switch (behaviour) {
      case 'correct':
        return [send(correct, 0, 'correct')];
      case 'mutated':
        return [mutated(correct)];
      case 'mutated-then-correct':
        // The real answer right behind the broken one: a client that was fooled by the first misses it.
        return [mutated(correct), send(correct, 1, 'correct')];
      case 'spoofed-ack':
        // Issue 16 finding 2: an ACK with the request's MID and another token first, then the real one.
        return [send(spoofedAck(request, random, this.#framing, parts.code), 0, 'spoofed-ack'), send(correct, 2, 'correct')];
      case 'drop':
        return [];
      case 'duplicate': {
        const copies = randomInt(random, 2, 3);
        const out: HostileDatagram[] = [];
        for (let i = 0; i < copies; i++) out.push(send(correct, i, i === 0 ? 'correct' : 'duplicate'));
        return out;
      }
      case 'late':
        return [send(correct, this.#lateDelay * (1 + 2 * random()), 'late')];
      case 'separate':
      case 'separate-mutated': {
        // RFC 7252 §5.2.2: an empty ACK now, the response later as a CON (or NON) of its own.
        const ack = this.#encode({ type: MessageType.ACK, code: 0, messageId: request.messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES });
        const separate = this.#encode({ ...piggybacked, type: chance(random, 0.7) ? MessageType.CON : MessageType.NON, messageId: this.#nextMessageId() });
        const later = this.#separateDelay * (1 + random());
        if (behaviour === 'separate') return [send(ack, 0, 'separate-ack'), send(separate, later, 'separate')];
        const mutation = mutateResponse(separate, request, random, this.#framing);
        return [send(ack, 0, 'separate-ack'), send(mutation.frame, later, mutation.kind), ...(chance(random, 0.5) ? [send(separate, later + 1, 'separate')] : [])];
      }
      case 'separate-lost':
        // The empty ACK, then nothing: the separate response was lost (and an observation registered by it with it).
        this.#observations.delete(`${endpoint.key}|${tokenToHex(request.token)}`);
        return [send(this.#encode({ type: MessageType.ACK, code: 0, messageId: request.messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES }), 0, 'separate-ack')];
      case 'reset':
        return [send(this.#encode({ type: MessageType.RST, code: 0, messageId: request.messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES }), 0, 'reset')];
      case 'other-token': {
        // The right MID with the token of an earlier exchange of the same client, then the real answer.
        const other = endpoint.tokens.length > 1 ? endpoint.tokens[randomInt(random, 0, endpoint.tokens.length - 2)] : randomBytes(random, 8);
        // (A NON gets a message ID of its own: with the real one's, the real one would be a duplicate.)
        const bogus = this.#encode({ ...piggybacked, token: other, messageId: confirmable ? piggybacked.messageId : this.#nextMessageId() });
        return [send(bogus, 0, 'other-token'), ...(chance(random, 0.7) ? [send(correct, 1, 'correct')] : [])];
      }
    }
  }

  #notify(observation: Observation): HostileDatagram[] {
    const random = this.#random;
    const endpoint = observation.endpoint;
    this.stats.notifications++;
    observation.sequence = (observation.sequence + 1) & 0xffffff;
    let parts: ResponseParts;
    if (observation.path === '/obs') {
      parts = { code: ResponseCode.Content, options: [{ number: OptionNumber.Observe, value: encodeUint(observation.sequence) }, { number: OptionNumber.ContentFormat, value: EMPTY_BYTES }], payload: text(`n=${observation.sequence}`) };
    } else {
      endpoint.largeVersion++;
      // RFC 7959 §2.6 / §3.4: a notification carries the first block; the client GETs the rest without Observe.
      const first: CoapPdu = { ...observation.request, options: withOption(observation.request.options, OptionNumber.Block2, [encodeBlock({ num: 0, more: false, szx: observation.szx })]) };
      parts = this.#blockwise(first, this.#largeNotification(endpoint), Uint8Array.of(0x0b, endpoint.largeVersion & 0xff), [{ number: OptionNumber.Observe, value: encodeUint(observation.sequence) }]);
    }
    const confirmable = this.#framing.messageLayer && chance(random, 0.3);
    const messageId = this.#nextMessageId();
    const frame = this.#encode({ type: confirmable ? MessageType.CON : MessageType.NON, code: parts.code, messageId, token: observation.token, options: parts.options, payload: parts.payload });
    this.#notificationIds.set(`${endpoint.key}|${messageId}`, observation.key);
    if (this.#notificationIds.size > 4096) this.#notificationIds.delete(this.#notificationIds.keys().next().value as string);
    if (chance(random, this.#correctRate)) {
      return chance(random, 0.1) ? [this.#datagram(endpoint, frame, 0, 'notification'), this.#datagram(endpoint, frame, 1, 'duplicate')] : [this.#datagram(endpoint, frame, 0, 'notification')];
    }
    const mutation = mutateResponse(frame, observation.request, random, this.#framing);
    return [this.#datagram(endpoint, mutation.frame, 0, mutation.kind)];
  }

  #unsolicited(endpoint: Endpoint): HostileDatagram | undefined {
    const random = this.#random;
    const kind = this.#framing.messageLayer ? pick(random, UNSOLICITED) : pick(random, ['unsolicited-non', 'unsolicited-garbage', 'replay'] as const);
    const seenToken = (): Uint8Array => (endpoint.tokens.length > 0 ? pick(random, endpoint.tokens) : randomBytes(random, 8));
    const seenMessageId = (): number => (endpoint.messageIds.length > 0 ? pick(random, endpoint.messageIds) : Math.floor(random() * 0x10000));
    const empty = (type: number, messageId: number): Uint8Array => this.#encode({ type, code: 0, messageId, token: EMPTY_BYTES, options: [], payload: EMPTY_BYTES });
    let frame: Uint8Array | undefined;
    switch (kind) {
      case 'unsolicited-con-notification':
        // A CON notification for a token the client used (its observation may be long gone).
        frame = this.#encode({
          type: MessageType.CON,
          code: ResponseCode.Content,
          messageId: this.#nextMessageId(),
          token: seenToken(),
          options: [{ number: OptionNumber.Observe, value: encodeUint(randomInt(random, 0, 0xffffff)) }],
          payload: text('unsolicited'),
        });
        break;
      case 'unsolicited-non':
        frame = this.#encode({ type: MessageType.NON, code: ResponseCode.Content, messageId: this.#nextMessageId(), token: chance(random, 0.5) ? seenToken() : randomBytes(random, randomInt(random, 0, 8)), options: [], payload: text('stray') });
        break;
      case 'unsolicited-rst':
        frame = empty(MessageType.RST, chance(random, 0.7) ? seenMessageId() : Math.floor(random() * 0x10000));
        break;
      case 'unsolicited-ack':
        // An ACK with a message ID the client used and a wrong token, or an empty one.
        frame = chance(random, 0.5)
          ? empty(MessageType.ACK, seenMessageId())
          : this.#encode({ type: MessageType.ACK, code: ResponseCode.Content, messageId: seenMessageId(), token: randomBytes(random, randomInt(random, 0, 8)), options: [], payload: text('spoof') });
        break;
      case 'unsolicited-garbage':
        frame = randomFrame(random);
        break;
      case 'unsolicited-ping':
        frame = empty(MessageType.CON, this.#nextMessageId());
        break;
      case 'unsolicited-request':
        frame = this.#framing.encode({
          type: chance(random, 0.5) ? MessageType.CON : MessageType.NON,
          code: Method.GET,
          messageId: this.#nextMessageId(),
          token: randomBytes(random, 4),
          body: writeRawBody([{ number: OptionNumber.UriPath, value: text('client') }], undefined),
        });
        break;
      case 'replay':
        // Something sent earlier, again: a late duplicate.
        frame = endpoint.frames.length > 0 ? pick(random, endpoint.frames) : undefined;
        break;
    }
    return frame === undefined ? undefined : this.#datagram(endpoint, frame, 0, kind);
  }

  // ---- helpers -----------------------------------------------------------------------------------

  /** Encodes a message; `type` is any number (the hostile side sends what it likes). */
  #encode(pdu: Omit<CoapPdu, 'type'> & { readonly type: number }): Uint8Array {
    return this.#framing.encode(rawFromPdu(pdu as CoapPdu));
  }

  #datagram(endpoint: Endpoint, frame: Uint8Array, delay: number, kind: MutationKind | string): HostileDatagram {
    const sent = this.stats.sent;
    sent[kind] = (sent[kind] ?? 0) + 1;
    if (kind !== 'replay') remember(endpoint.frames, frame);
    return { endpoint: endpoint.key, frame, delay, kind };
  }

  #endpoint(key: string): Endpoint {
    let endpoint = this.#endpoints.get(key);
    if (endpoint !== undefined) return endpoint;
    endpoint = { key, tokens: [], messageIds: [], frames: [], largeVersion: 0, csmSent: false };
    this.#endpoints.set(key, endpoint);
    this.#endpointKeys.push(key);
    if (this.#endpoints.size > this.#maxEndpoints) this.forget(this.#endpoints.keys().next().value as string);
    return endpoint;
  }

  #nextMessageId(): number {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }
}

function sortedOptions(options: CoapOption[]): CoapOption[] {
  return options.sort((a, b) => a.number - b.number);
}
