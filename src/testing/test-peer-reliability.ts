/**
 * The test peer's UDP message layer (RFC 7252 §4): message IDs, the deduplication cache that answers a
 * duplicate CON with the same reply, and retransmission of its own CON messages until ACK or RST.
 * TCP and TLS need none of it (RFC 8323 §2).
 */
import type { CoapPdu } from '../codec/pdu';
import type { PeerAddress } from '../errors';
import { endpointKey } from './test-peer-core';
import type { TestPeerStats } from './test-peer-api';
import type { PeerTimers } from './test-peer-timers';

/** One of the peer's own CON messages awaiting an ACK. */
interface PendingConfirmable {
  timer: NodeJS.Timeout;
  readonly onAck: () => void;
  readonly onGiveUp: () => void;
}

/** A deduplication entry: the encoded reply (null while none is due, e.g. for a NON) and when it was stored. */
export interface DedupEntry {
  reply: Uint8Array | null;
  readonly at: number;
}

/** Options of a {@link DatagramReliability}. */
export interface DatagramReliabilityOptions {
  /** First retransmission timeout, in milliseconds (doubled each time, no jitter). */
  readonly ackTimeout: number;
  readonly maxRetransmit: number;
  /** How long a reply is kept for duplicates, in milliseconds. */
  readonly dedupLifetime: number;
  /** First message ID minus one. */
  readonly firstMessageId: number;
  readonly stats: TestPeerStats;
  readonly timers: PeerTimers;
  /** Sends bytes already encoded (a retransmission). */
  readonly transmit: (bytes: Uint8Array, destination: PeerAddress, pdu: CoapPdu) => void;
}

/** Message IDs, deduplication and CON retransmission of the UDP listener. */
export class DatagramReliability {
  /** endpoint|MID -> the reply to a request. */
  readonly #dedup = new Map<string, DedupEntry>();
  readonly #pending = new Map<string, PendingConfirmable>();
  /** endpoint|MID of recent NON notifications -> observer key, so an RST to one cancels it (RFC 7641 §3.6). */
  readonly #notificationIds = new Map<string, string>();
  readonly #options: DatagramReliabilityOptions;
  #messageId: number;

  constructor(options: DatagramReliabilityOptions) {
    this.#options = options;
    this.#messageId = options.firstMessageId;
  }

  nextMessageId(): number {
    this.#messageId = (this.#messageId + 1) & 0xffff;
    return this.#messageId;
  }

  /** RFC 7252 §4.5: the entry of the same request seen within the lifetime (a duplicate), if any. */
  duplicateOf(key: string, now: number): DedupEntry | undefined {
    const cached = this.#dedup.get(key);
    return cached !== undefined && now - cached.at < this.#options.dedupLifetime ? cached : undefined;
  }

  /** A new entry for the reply to a request that is not a duplicate. */
  remember(key: string, now: number): DedupEntry {
    this.#prune(now);
    const entry: DedupEntry = { reply: null, at: now };
    this.#dedup.set(key, entry);
    return entry;
  }

  /** Remembers a NON notification's message ID so that an RST to it cancels the observer. */
  rememberNotification(key: string, observerKey: string): void {
    this.#notificationIds.set(key, observerKey);
    if (this.#notificationIds.size > 1000) this.#notificationIds.delete(this.#notificationIds.keys().next().value as string);
  }

  /**
   * An ACK or RST arrived: settles the CON it answers. Returns the key of the observer an RST cancels
   * (RFC 7641 §3.6) when it answers a NON notification instead.
   */
  onAckOrReset(pdu: CoapPdu, source: PeerAddress, isReset: boolean): string | undefined {
    const key = `${endpointKey(source)}|${pdu.messageId}`;
    const pending = this.#pending.get(key);
    if (pending !== undefined) {
      this.#pending.delete(key);
      this.#options.timers.clear(pending.timer);
      if (isReset) pending.onGiveUp();
      else pending.onAck();
      return undefined;
    }
    return isReset ? this.#notificationIds.get(key) : undefined;
  }

  /**
   * Retransmits a CON (already sent once as `bytes`) with doubling timeouts until ACK or RST (RFC 7252 §4.2),
   * then calls `onAck`, or `onGiveUp` after RST or the last retransmission.
   */
  confirm(
    pdu: CoapPdu,
    bytes: Uint8Array,
    destination: PeerAddress,
    onAck: () => void,
    onGiveUp: () => void,
    startAttempts = 0,
    onAttempt: (attempts: number) => void = () => undefined,
  ): void {
    const { timers, stats, maxRetransmit, ackTimeout, transmit } = this.#options;
    const key = `${endpointKey(destination)}|${pdu.messageId}`;
    let attempts = startAttempts;
    onAttempt(attempts);
    const schedule = (): NodeJS.Timeout =>
      timers.set(() => {
        const pending = this.#pending.get(key);
        if (pending === undefined) return;
        if (attempts >= maxRetransmit) {
          this.#pending.delete(key);
          onGiveUp();
          return;
        }
        attempts++;
        onAttempt(attempts);
        stats.retransmissions++;
        transmit(bytes, destination, pdu);
        pending.timer = schedule();
      }, ackTimeout * 2 ** attempts);
    this.#pending.set(key, { timer: schedule(), onAck, onGiveUp });
  }

  /** Stops retransmitting a CON; true when one was pending. */
  cancel(destination: PeerAddress, messageId: number): boolean {
    const key = `${endpointKey(destination)}|${messageId}`;
    const pending = this.#pending.get(key);
    if (pending === undefined) return false;
    this.#options.timers.clear(pending.timer);
    this.#pending.delete(key);
    return true;
  }

  clear(): void {
    for (const pending of this.#pending.values()) this.#options.timers.clear(pending.timer);
    this.#pending.clear();
    this.#dedup.clear();
  }

  #prune(now: number): void {
    // Map order is insertion order, so expired entries are at the front.
    for (const [key, entry] of this.#dedup) {
      if (now - entry.at < this.#options.dedupLifetime && this.#dedup.size <= 10_000) break;
      this.#dedup.delete(key);
    }
  }
}
