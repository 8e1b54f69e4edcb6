/**
 * Drives client sessions through scripts of request kinds (GET, NON GET, PUT, Block1, Block2, observe, ping,
 * FETCH...) with a watchdog per request, the same way over real UDP (live part) and over the fake transport in
 * virtual time (virtual part): only the {@link Clock} differs.
 *
 * "Hung" (the goal's third zero): a request that neither completes nor errors although the protocol bounds it.
 * One exchange is bounded by MAX_TRANSMIT_WAIT + the separate-response timeout (CON) or the NON timeout; a
 * block-wise transfer is many exchanges, so the watchdog measures from the last *new* request message the
 * session sent (a retransmission is not progress) and also caps the whole request. Requests of one session run
 * one after another, so every new request message of the session is progress of the request that runs.
 */
import type { Observable, Subscription } from 'rxjs';
import type { ClientSession } from '../src/session/client-session';
import type { CoapResponse } from '../src/exchange/response';
import type { SessionEvent } from '../src/session/session-events';
import type { RandomSource } from '../src/testing/seeded-random';
import { startKind, touchResponse, type RequestKind } from './request-kinds';
import { describeError, hex, isTypedError, stackOf, type PartTally } from './tally';
import type { TransportProbe } from './transport-probe';

/** Time as the part sees it: real (live) or virtual. */
export interface Clock {
  now(): number;
  /** Runs `work` after `delay` milliseconds; returns a canceller. */
  after(delay: number, work: () => void): () => void;
}

/** The watchdog's bounds, in the clock's milliseconds. */
export interface ExchangeLimits {
  /** Longest legitimate exchange: max(MAX_TRANSMIT_WAIT + separate-response timeout, NON timeout). */
  readonly exchange: number;
  /** Added to `exchange` for event-loop latency (real time only). */
  readonly slack: number;
  /** Longest a whole request may take, however many exchanges it is made of. */
  readonly request: number;
  /** An observation that got its registration response unsubscribes after this long without a notification. */
  readonly notificationWait: number;
  /** How often the watchdog looks. */
  readonly checkEvery: number;
  /**
   * How soon a response that answers the request in flight must be acted upon: the request emits, ends, or
   * sends its next message (a spoofed ACK taken for the real one leaves the real one unanswered, issue 16
   * finding 2).
   */
  readonly answeredWithin: number;
}


/** Everything a driver needs from its part. */
export interface DriverContext {
  readonly clock: Clock;
  readonly limits: ExchangeLimits;
  readonly tally: PartTally;
  readonly random: RandomSource;
  /** Describes where the session runs (world seed, session number), for failure reports. */
  readonly where: string;
}

/**
 * Runs one session through a script, one request after another, then releases it and calls `done`.
 * Every request ends: by itself (success or error), or by the watchdog (hung, counted, unsubscribed).
 */
export class SessionDriver {
  readonly #session: ClientSession;
  readonly #probe: TransportProbe;
  readonly #context: DriverContext;
  readonly #script: readonly RequestKind[];
  readonly #done: () => void;
  readonly #events: Subscription;
  #index = -1;
  #current:
    | { kind: RequestKind; start: number; startSequence: number; values: number; lastValueAt: number; lastValueSequence: number; subscription: Subscription | undefined; stopWatch: () => void }
    | undefined;
  #finished = false;
  #notedEmptyAck = false;

  constructor(session: ClientSession, probe: TransportProbe, script: readonly RequestKind[], context: DriverContext, done: () => void) {
    this.#session = session;
    this.#probe = probe;
    this.#script = script;
    this.#context = context;
    this.#done = done;
    const tally = context.tally;
    this.#events = session.events$.subscribe((event: SessionEvent) => {
      tally.note(`event ${event.type}`);
      if (event.type === 'failed' && !isTypedError(event.error)) {
        tally.fail('untyped', `session 'failed' event: ${describeError(event.error)}`, this.describe(), stackOf(event.error));
      }
    });
  }

  /** True once the script ran and the session was released. */
  get finished(): boolean {
    return this.#finished;
  }

  /** The request running now (for a report when a world ends with it still running). */
  get currentKind(): RequestKind | undefined {
    return this.#current?.kind;
  }

  start(): void {
    this.#next();
  }

  /** Where this driver is and what it saw last. */
  describe(): string {
    const current = this.#current;
    const start = current?.start ?? 0;
    const head = current === undefined ? `${this.#context.where}, between requests` : `${this.#context.where}, request ${this.#index + 1}/${this.#script.length} '${current.kind}' after ${Math.round(this.#context.clock.now() - start)} ms with ${current.values} values`;
    return `${head}\n  script: ${this.#script.join(', ')}\n  last frames:\n${this.#probe.describe(start)}`;
  }

  /** Ends the script at once (the part is out of time): the running request is unsubscribed, not counted. */
  abort(): void {
    if (this.#finished) return;
    const current = this.#current;
    this.#current = undefined;
    current?.stopWatch();
    current?.subscription?.unsubscribe();
    this.#finish();
  }

  #next(): void {
    if (this.#finished) return;
    this.#index++;
    if (this.#index >= this.#script.length) {
      this.#finish();
      return;
    }
    const kind = this.#script[this.#index];
    const { clock, tally, random } = this.#context;
    let source: Observable<unknown>;
    let wanted: number;
    try {
      ({ source, values: wanted } = startKind(kind, this.#session, random));
    } catch (error) {
      // Building the request threw at the call: a typed CoapArgumentError is a documented outcome.
      tally.checkError(error, () => this.describe());
      this.#next();
      return;
    }
    const current = {
      kind,
      start: clock.now(),
      startSequence: this.#probe.next(),
      values: 0,
      lastValueAt: clock.now(),
      lastValueSequence: 0,
      subscription: undefined as Subscription | undefined,
      stopWatch: () => undefined as void,
    };
    this.#current = current;
    let ended = false;
    const end = (outcome: string): void => {
      if (ended) return;
      ended = true;
      current.stopWatch();
      current.subscription?.unsubscribe();
      tally.note(`${kind} ${outcome}`);
      if (this.#current === current) this.#current = undefined;
      // The next request starts after this callback returns (not inside the library's emission).
      clock.after(0, () => this.#next());
    };
    const watch = (): void => {
      if (ended) return;
      const now = clock.now();
      const { limits } = this.#context;
      if (current.values > 0 && (kind === 'observe' || kind === 'observe-large')) {
        // Registered: notifications may legitimately stop (the peer mutates or stops them).
        if (now - current.lastValueAt > limits.notificationWait) {
          end('quiet');
          return;
        }
      } else {
        // Answered, but nothing happened since: the response was ignored. (Not for observations: a client
        // rightly drops a notification whose body changed while it fetched the rest, and waits for the next.)
        const matched = kind === 'observe' || kind === 'observe-large' ? undefined : this.#probe.lastMatched;
        const progress = Math.max(current.startSequence, this.#probe.lastRequestSequence, current.lastValueSequence);
        if (matched !== undefined && matched.tokenFirstSent >= current.start && matched.sequence > progress && now - matched.time > limits.answeredWithin) {
          if (matched.afterEmptyAck) {
            // An empty ACK committed the client to wait for a separate response (RFC 7252 §5.2.2); a piggybacked
            // ACK for the same message after it is a duplicate ACK a client may drop. Bounded by the idle check.
            if (!this.#notedEmptyAck) tally.note('piggybacked response after an empty ACK dropped (allowed)');
            this.#notedEmptyAck = true;
          } else {
            tally.fail('hung', `'${kind}' ignored a response that answers it (${hex(matched.frame, 24)}): nothing happened for ${Math.round(now - matched.time)} ms after it`, this.describe());
            end('hung');
            return;
          }
        }
        const idle = now - Math.max(current.start, this.#probe.lastRequestAt);
        if (idle > limits.exchange + limits.slack || now - current.start > limits.request) {
          tally.fail('hung', `'${kind}' neither completed nor errored: ${Math.round(idle)} ms without a new request message, ${Math.round(now - current.start)} ms in all`, this.describe());
          end('hung');
          return;
        }
      }
      current.stopWatch = clock.after(limits.checkEvery, watch);
    };
    current.stopWatch = clock.after(this.#context.limits.checkEvery, watch);
    const subscription = source.subscribe({
      next: (value) => {
        current.values++;
        current.lastValueAt = clock.now();
        current.lastValueSequence = this.#probe.next();
        if (typeof value === 'object' && value !== null && 'code' in value) touchResponse(value as CoapResponse, tally, () => this.describe());
        if (current.values >= wanted) end('ok');
      },
      error: (error) => {
        tally.checkError(error, () => `error delivered to the subscriber of '${kind}'\n  ${this.describe()}`);
        end(isTypedError(error) ? `error ${(error as { code: string }).code}` : 'untyped error');
      },
      complete: () => end(current.values > 0 ? 'ok' : 'completed empty'),
    });
    current.subscription = subscription;
    if (ended) subscription.unsubscribe();
  }

  #finish(): void {
    if (this.#finished) return;
    this.#finished = true;
    this.#events.unsubscribe();
    try {
      this.#session.release();
    } catch (error) {
      this.#context.tally.checkError(error, () => `session.release() threw\n  ${this.describe()}`);
    }
    this.#done();
  }
}

