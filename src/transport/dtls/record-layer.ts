/**
 * The DTLS 1.2 record layer of rxcoap's own client (RFC 6347 §4.1): epochs, 48-bit sequence numbers, AEAD
 * protection, the anti-replay window (§4.1.2.6), and records packed into datagrams.
 *
 *    +------+---------+-------+-----------------+--------+---------------------------------+
 *    | type | version | epoch | sequence number | length | fragment                        |
 *    |  1   |  2      |  2    |  6              |  2     | epoch 0: plaintext              |
 *    |      | fe fd   |       |                 |        | else: explicit nonce (8) || AEAD |
 *    +------+---------+-------+-----------------+--------+---------------------------------+
 *
 * Invalid records (bad header, unknown epoch, replayed, not authenticating) are dropped silently, as §4.1.2.7
 * says; the layer above only sees records that are good.
 */
import { aeadOpen, aeadSeal, EXPLICIT_NONCE_LENGTH, type DirectionKeys } from './record-crypto';

/** RFC 5246 §6.2.1 content types. */
export const ContentType = { changeCipherSpec: 20, alert: 21, handshake: 22, applicationData: 23 } as const;

/** DTLS 1.2 on the wire (RFC 6347 §4.1: the one's complement of 1.2). */
export const DTLS_1_2 = 0xfefd;
/** DTLS 1.0, which servers may put into the record of a HelloVerifyRequest (RFC 6347 §4.2.1). */
export const DTLS_1_0 = 0xfeff;

export const RECORD_HEADER_LENGTH = 13;
const MAX_SEQUENCE = 2 ** 48 - 1;
const REPLAY_WINDOW = 64;

/** One good record, as received. */
export interface DtlsRecord {
  readonly type: number;
  readonly epoch: number;
  readonly sequence: number;
  readonly fragment: Uint8Array;
}

/** RFC 6347 §4.1.2.6: a 64-record sliding window of the sequence numbers seen. */
export class ReplayWindow {
  #top = -1;
  /** seen[n % 64] for the numbers n in top - 63 .. top (cleared as the window slides). */
  readonly #seen = new Uint8Array(REPLAY_WINDOW);

  /** True when `sequence` was not seen yet and is not older than the window. */
  fresh(sequence: number): boolean {
    if (sequence > this.#top) return true;
    if (this.#top - sequence >= REPLAY_WINDOW) return false;
    return this.#seen[sequence % REPLAY_WINDOW] === 0;
  }

  /** Marks `sequence` as seen (after the record authenticated). */
  mark(sequence: number): void {
    if (sequence > this.#top) {
      const from = Math.max(this.#top + 1, sequence - REPLAY_WINDOW + 1);
      for (let n = from; n <= sequence; n++) this.#seen[n % REPLAY_WINDOW] = 0;
      this.#top = sequence;
    }
    this.#seen[sequence % REPLAY_WINDOW] = 1;
  }
}

function writeSequence(target: Uint8Array, offset: number, epoch: number, sequence: number): void {
  target[offset] = epoch >> 8;
  target[offset + 1] = epoch & 0xff;
  const high = Math.floor(sequence / 2 ** 32);
  const low = sequence >>> 0;
  target[offset + 2] = high >> 8;
  target[offset + 3] = high & 0xff;
  target[offset + 4] = low >>> 24;
  target[offset + 5] = (low >>> 16) & 0xff;
  target[offset + 6] = (low >>> 8) & 0xff;
  target[offset + 7] = low & 0xff;
}

/** RFC 5246 §6.2.3.3: additional_data = seq_num (epoch || sequence) + type + version + length. */
function additionalData(epoch: number, sequence: number, type: number, length: number): Uint8Array {
  const aad = new Uint8Array(13);
  writeSequence(aad, 0, epoch, sequence);
  aad[8] = type;
  aad[9] = DTLS_1_2 >> 8;
  aad[10] = DTLS_1_2 & 0xff;
  aad[11] = length >> 8;
  aad[12] = length & 0xff;
  return aad;
}

/** Write state of one epoch: its keys (none in epoch 0) and next sequence number. */
interface WriteState {
  readonly keys: DirectionKeys | undefined;
  sequence: number;
}

/** Both directions of the record layer of one association. */
export class RecordLayer {
  /** Every write epoch used so far: a retransmitted flight resends epoch-0 messages after the switch to epoch 1. */
  readonly #writeStates: WriteState[] = [{ keys: undefined, sequence: 0 }];
  /** Read keys by epoch (epoch 0 is plaintext and has none). */
  readonly #readKeys = new Map<number, DirectionKeys>();
  readonly #windows = new Map<number, ReplayWindow>([[0, new ReplayWindow()]]);
  /** Epoch-0 records are accepted until the handshake is done (then only protected ones are). */
  #plaintextAllowed = true;

  /** The newest epoch records are sent in. */
  get writeEpoch(): number {
    return this.#writeStates.length - 1;
  }

  /** Bytes each record adds in `epoch` (the newest by default). */
  overhead(epoch = this.writeEpoch): number {
    const keys = this.#writeStates[epoch]?.keys;
    return keys === undefined ? RECORD_HEADER_LENGTH : RECORD_HEADER_LENGTH + EXPLICIT_NONCE_LENGTH + keys.aead.tagLength;
  }

  /** RFC 6347 §4.1: ChangeCipherSpec moves writing to the next epoch, sequence numbers from 0. */
  nextWriteEpoch(keys: DirectionKeys): void {
    this.#writeStates.push({ keys, sequence: 0 });
  }

  /** Keys to open records of `epoch` with (known before the peer's ChangeCipherSpec may arrive). */
  setReadKeys(epoch: number, keys: DirectionKeys): void {
    this.#readKeys.set(epoch, keys);
    if (!this.#windows.has(epoch)) this.#windows.set(epoch, new ReplayWindow());
  }

  /** The handshake is done: plaintext (epoch 0) records are no longer accepted. */
  closePlaintext(): void {
    this.#plaintextAllowed = false;
  }

  /** One record of `type`, protected by `epoch` (the newest by default); undefined when its sequence numbers ran out. */
  seal(type: number, payload: Uint8Array, epoch = this.writeEpoch): Uint8Array | undefined {
    const state = this.#writeStates[epoch];
    if (state === undefined || state.sequence > MAX_SEQUENCE) return undefined;
    const sequence = state.sequence++;
    const keys = state.keys;
    let fragment: Uint8Array;
    if (keys === undefined) {
      fragment = payload;
    } else {
      const explicit = new Uint8Array(EXPLICIT_NONCE_LENGTH);
      writeSequence(explicit, 0, epoch, sequence);
      const sealed = aeadSeal(keys, explicit, additionalData(epoch, sequence, type, payload.length), payload);
      fragment = Buffer.concat([explicit, sealed]);
    }
    const record = new Uint8Array(RECORD_HEADER_LENGTH + fragment.length);
    record[0] = type;
    record[1] = DTLS_1_2 >> 8;
    record[2] = DTLS_1_2 & 0xff;
    writeSequence(record, 3, epoch, sequence);
    record[11] = fragment.length >> 8;
    record[12] = fragment.length & 0xff;
    record.set(fragment, RECORD_HEADER_LENGTH);
    return record;
  }

  /**
   * The good records of a datagram, in order; every bad one is skipped. Lazy: keys set while a record is handled
   * apply to the records after it in the same datagram (a ClientKeyExchange and the Finished it keys).
   */
  *open(datagram: Uint8Array): Generator<DtlsRecord> {
    for (let offset = 0; offset + RECORD_HEADER_LENGTH <= datagram.length; ) {
      const type = datagram[offset];
      const version = (datagram[offset + 1] << 8) | datagram[offset + 2];
      const epoch = (datagram[offset + 3] << 8) | datagram[offset + 4];
      const sequence = ((datagram[offset + 5] << 8) | datagram[offset + 6]) * 2 ** 32 + ((datagram[offset + 7] << 24) >>> 0) + ((datagram[offset + 8] << 16) | (datagram[offset + 9] << 8) | datagram[offset + 10]);
      const length = (datagram[offset + 11] << 8) | datagram[offset + 12];
      const start = offset + RECORD_HEADER_LENGTH;
      // a length beyond the datagram: the rest cannot be parsed (RFC 6347 §4.1.2.7: discard)
      if (start + length > datagram.length) break;
      offset = start + length;
      if (version !== DTLS_1_2 && version !== DTLS_1_0) continue;
      if (type < ContentType.changeCipherSpec || type > ContentType.applicationData) continue;
      const fragment = datagram.subarray(start, start + length);
      const window = this.#windows.get(epoch);
      if (window === undefined || !window.fresh(sequence)) continue;
      if (epoch === 0) {
        if (!this.#plaintextAllowed || type === ContentType.applicationData) continue;
        window.mark(sequence);
        yield { type, epoch, sequence, fragment };
        continue;
      }
      const keys = this.#readKeys.get(epoch);
      if (keys === undefined || fragment.length < EXPLICIT_NONCE_LENGTH + keys.aead.tagLength) continue;
      const plaintextLength = fragment.length - EXPLICIT_NONCE_LENGTH - keys.aead.tagLength;
      const plaintext = aeadOpen(keys, fragment.subarray(0, EXPLICIT_NONCE_LENGTH), additionalData(epoch, sequence, type, plaintextLength), fragment.subarray(EXPLICIT_NONCE_LENGTH));
      if (plaintext === undefined) continue;
      window.mark(sequence);
      yield { type, epoch, sequence, fragment: plaintext };
    }
  }
}
