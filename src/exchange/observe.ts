/**
 * Observe (RFC 7641) as a cold Observable: subscribe registers (GET/FETCH with Observe=0), every fresh
 * notification is emitted in order, Max-Age silence re-registers with the same token, and unsubscribe cancels
 * (a deregistration with Observe=1, as libcoap does; notifications that still come get RST).
 */
import { Observable, type Subscription } from 'rxjs';
import { CoapDecodeError } from '../errors';
import { OptionNumber } from '../codec/option-numbers';
import { decodeUint, encodeUint } from '../codec/option-values';
import { getOption, tokenToHex, withOption, type CoapPdu } from '../codec/pdu';
import type { ExchangeContext } from './exchange-context';
import { isFresher } from './observe-freshness';
import { MAX_TIMER_DELAY } from '../message-layer/transmission-params';
import { CoapTimeoutError } from '../errors';
import { checkResponse, type RequestTemplate } from './request';
import { CoapResponse } from './response';

const OBSERVE_REGISTER = encodeUint(0);
const OBSERVE_DEREGISTER = encodeUint(1);

/** A notification completed block-wise: the PDU and the whole body. */
export interface CompletedBody {
  readonly pdu: CoapPdu;
  readonly payload: Uint8Array;
}

/** A running observation, as the session sees it (to end it on release). */
export interface LiveObservation {
  /**
   * Ends the observation because the session is being closed on purpose: sends a NON deregistration (like
   * libcoap on release) unless `deregister` is false, forgets the token, and completes the Observable.
   */
  cancelNow(deregister?: boolean): void;
}

/** Options of {@link observeExchange}. */
export interface ObserveOptions {
  /** Send the registration (and re-registrations, deregistration) as CON. @defaultValue true */
  readonly confirmable?: boolean;
  /** Send a deregistration when unsubscribed. @defaultValue true */
  readonly deregister?: boolean;
  /** Milliseconds added to Max-Age before re-registering. @defaultValue 2000 */
  readonly reregisterMargin?: number;
  /** Re-register when Max-Age runs out without a notification. @defaultValue true */
  readonly reregister?: boolean;
  /** Completes a notification whose body needs Block2 (fetches the remaining blocks without Observe). */
  readonly completeBody?: (first: CoapPdu) => Observable<CompletedBody>;
  /** Called on each re-registration. */
  readonly onReregister?: () => void;
  /** Tracks live observations (for release). */
  readonly track?: { add(observation: LiveObservation): void; delete(observation: LiveObservation): void };
  /** Runs the deregistration after the subscriber is gone (the session keeps it so release can stop it). */
  readonly runDetached?: (work: Observable<never>) => void;
}

function needsMoreBlocks(pdu: CoapPdu): boolean {
  const block2 = getOption(pdu, OptionNumber.Block2);
  return block2 !== undefined && block2.length > 0 && (block2[block2.length - 1] & 0x08) !== 0;
}

/** Observes the resource `request` targets. */
export function observeExchange(ctx: ExchangeContext, request: RequestTemplate, options: ObserveOptions = {}): Observable<CoapResponse> {
  const confirmable = options.confirmable ?? true;
  const margin = options.reregisterMargin ?? 2000;
  return new Observable<CoapResponse>((subscriber) => {
    const token = ctx.tokens.newToken();
    const registration = { ...request, token, options: withOption(request.options, OptionNumber.Observe, [OBSERVE_REGISTER]) };
    const deregistration = { ...request, token, options: withOption(request.options, OptionNumber.Observe, [OBSERVE_DEREGISTER]) };
    let lastSequence = -1;
    let lastAt = 0;
    let active = true; // false once the observation ended (no more notifications wanted)
    let silence: Subscription | undefined;
    let silenceAt = Infinity;
    /** When to re-register unless a fresh notification comes first (RFC 7641 §3.3.1: Max-Age). */
    let reregisterAt = Infinity;
    let maxAgeWait = 0;
    /** A notification body still being fetched block-wise; a newer notification replaces it. */
    let fetching: Subscription | undefined;
    let completeWhenFetched = false;

    const end = (): void => {
      active = false;
      silence?.unsubscribe();
      silence = undefined;
    };

    // One timer per Max-Age period, not one per notification: a notification only moves the deadline, and
    // the timer, when it fires early, waits for the rest.
    const armSilence = (delay: number): void => {
      silenceAt = ctx.scheduler.now() + delay;
      silence = ctx.scheduler.schedule(() => {
        silence = undefined;
        if (!active) return;
        const now = ctx.scheduler.now();
        if (now < reregisterAt) {
          armSilence(reregisterAt - now);
          return;
        }
        // RFC 7641 §3.3.1: Max-Age passed without a fresh notification: register again, same token.
        options.onReregister?.();
        subscriber.add(ctx.transmit(registration, confirmable).subscribe({ error: (error) => subscriber.error(error) }));
        reregisterAt = now + maxAgeWait;
        armSilence(maxAgeWait);
      }, delay);
      subscriber.add(silence);
    };

    const deliver = (pdu: CoapPdu, last: boolean): void => {
      if (fetching !== undefined) {
        fetching.unsubscribe(); // newer notifications win over a body still being fetched
        fetching = undefined;
      }
      if (options.completeBody === undefined || !needsMoreBlocks(pdu)) {
        subscriber.next(new CoapResponse(pdu, ctx.peer));
        if (last) subscriber.complete();
        return;
      }
      completeWhenFetched = last;
      const body = options.completeBody(pdu).subscribe({
        next: (whole) => subscriber.next(new CoapResponse(whole.pdu, ctx.peer, { payload: whole.payload })),
        error: (error) => subscriber.error(error),
        complete: () => {
          fetching = undefined;
          if (completeWhenFetched) subscriber.complete();
        },
      });
      if (!body.closed) {
        fetching = body;
        subscriber.add(body);
      }
    };

    const onResponse = (received: CoapPdu): boolean => {
      if (!active) return false; // RFC 7641 §3.6: a notification nobody wants gets RST
      answered = true;
      const pdu = checkResponse(received);
      if (pdu instanceof Error) {
        if (pdu instanceof CoapDecodeError) ctx.reportBadPacket?.(pdu);
        end();
        subscriber.error(pdu);
        return false;
      }
      try {
        return onNotification(pdu);
      } catch (error) {
        // Nothing that arrives from the network may throw out of this layer: the observation fails instead.
        end();
        subscriber.error(error);
        return false;
      }
    };

    const onNotification = (pdu: CoapPdu): boolean => {
      const observe = getOption(pdu, OptionNumber.Observe);
      const success = pdu.code >> 5 === 2;
      if (observe === undefined || !success) {
        // Not (or no longer) observed: RFC 7641 §3.2 / §4.2. Emit it, then complete.
        end();
        deliver(pdu, true);
        return true;
      }
      const sequence = decodeUint(observe);
      const now = ctx.scheduler.now();
      if (lastSequence >= 0 && !isFresher(lastSequence, sequence, lastAt, now)) return true; // stale: ACK, drop
      lastSequence = sequence;
      lastAt = now;
      if (options.reregister !== false) {
        const maxAge = getOption(pdu, OptionNumber.MaxAge);
        // Max-Age may say up to 2^32-1 s: timers cannot wait longer than MAX_TIMER_DELAY (Node would fire at once).
        maxAgeWait = Math.min((maxAge === undefined ? 60 : decodeUint(maxAge)) * 1000 + margin, MAX_TIMER_DELAY);
        reregisterAt = now + maxAgeWait;
        if (silence === undefined || reregisterAt < silenceAt) {
          silence?.unsubscribe(); // a shorter Max-Age than before
          armSilence(maxAgeWait);
        }
      }
      deliver(pdu, false);
      return true;
    };
    const unregisterToken = ctx.tokens.register(token, onResponse);

    const live: LiveObservation = {
      cancelNow(deregister = true) {
        if (!active) return;
        end();
        unregisterToken();
        if (deregister) ctx.transmit(deregistration, false).subscribe({ error: () => undefined });
        subscriber.complete();
      },
    };
    options.track?.add(live);

    // The registration is acknowledged (or sent, for NON): its response may still be separate (RFC 7252
    // §5.2.2). Like any request it fails when none comes in time, rather than waiting forever.
    let answered = false;
    subscriber.add(
      ctx.transmit(registration, confirmable).subscribe({
        error: (error) => subscriber.error(error),
        complete: () => {
          if (answered || !active) return;
          const wait = confirmable ? ctx.responseTimeout : ctx.nonTimeout;
          subscriber.add(
            ctx.scheduler.schedule(() => {
              if (answered || !active) return;
              end();
              subscriber.error(new CoapTimeoutError('no response to the observe registration after it was acknowledged', { peer: ctx.peer, token: tokenToHex(token), elapsed: wait }));
            }, wait),
          );
        },
      }),
    );

    return () => {
      options.track?.delete(live);
      const wasActive = active;
      end();
      if (!wasActive || options.deregister === false || options.runDetached === undefined) {
        unregisterToken();
        return;
      }
      // RFC 7641 §3.6: deregister with a GET carrying Observe=1 and the same token. Until its response comes,
      // notifications (they carry Observe) get RST; the response (no Observe) ends it.
      unregisterToken();
      options.runDetached(
        new Observable<never>((detached) => {
          const release = ctx.tokens.register(token, (pdu) => {
            if (getOption(pdu, OptionNumber.Observe) !== undefined) return false;
            detached.complete();
            return true;
          });
          detached.add(release);
          detached.add(
            ctx.transmit(deregistration, confirmable).subscribe({
              error: (error) => detached.error(error),
              complete: () => detached.add(ctx.scheduler.schedule(() => detached.complete(), confirmable ? ctx.responseTimeout : ctx.nonTimeout)),
            }),
          );
        }),
      );
    };
  });
}
