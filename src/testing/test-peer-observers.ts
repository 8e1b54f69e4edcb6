/**
 * The test peer's Observe registrations (RFC 7641), across transports: who observes what, and the 24-bit
 * sequence number. How a notification travels (NON/CON over UDP, a frame on a TCP/TLS connection) is the
 * business of the observer's channel.
 */
import type { Observer } from './test-peer-core';

/** Every observer of one peer, keyed by client endpoint and token (RFC 7641 §4.1). */
export class ObserverRegistry {
  readonly #observers = new Map<string, Observer>();
  #sequence: number;

  /** @param sequenceStart - the Observe value of the first registration response */
  constructor(sequenceStart: number) {
    this.#sequence = sequenceStart & 0xffffff;
  }

  get(key: string): Observer | undefined {
    return this.#observers.get(key);
  }

  /** Registers an observer, replacing (and removing) one with the same key. */
  add(observer: Observer): void {
    const replaced = this.#observers.get(observer.key);
    if (replaced !== undefined) this.remove(replaced);
    this.#observers.set(observer.key, observer);
  }

  /** Forgets an observer and lets its channel drop what is pending for it. */
  remove(observer: Observer): void {
    if (this.#observers.get(observer.key) === observer) this.#observers.delete(observer.key);
    observer.client.channel.removed(observer);
  }

  /** A snapshot of the observers of `path` (safe to remove while iterating it). */
  ofPath(path: string): Observer[] {
    const found: Observer[] = [];
    for (const observer of this.#observers.values()) if (observer.path === path) found.push(observer);
    return found;
  }

  /** Observers of `path`. */
  count(path: string): number {
    let count = 0;
    for (const observer of this.#observers.values()) if (observer.path === path) count++;
    return count;
  }

  /** Forgets every observer of one client (a TCP/TLS connection that closed: RFC 8323 §7.1). */
  removeClient(clientKey: string): void {
    for (const observer of [...this.#observers.values()]) if (observer.client.key === clientKey) this.remove(observer);
  }

  /** The next Observe value. */
  nextSequence(): number {
    const value = this.#sequence;
    // RFC 7641 §4.4: a 24-bit sequence number that wraps around.
    this.#sequence = (this.#sequence + 1) & 0xffffff;
    return value;
  }

  clear(): void {
    this.#observers.clear();
  }
}
