/**
 * An ExchangeContext whose scripted server answers each request 1 ms (virtual) after it is sent, with a
 * piggybacked response (or nothing, when `answer` returns undefined). Shared by the exchange-layer specs.
 */
import { Observable } from 'rxjs';
import type { TestScheduler } from 'rxjs/testing';
import { createPdu, MessageType, type CoapOption } from '../../src/codec/pdu';
import { transmitWith, type ExchangeContext, type OutgoingPdu } from '../../src/exchange/exchange-context';
import { sequentialTokenGenerator } from '../../src/exchange/token';
import { TokenMatcher } from '../../src/exchange/token-matcher';

/** What the scripted server answers; undefined = no answer (the request is still acknowledged). */
export type FakeReply = { code: number; options?: CoapOption[]; payload?: Uint8Array } | undefined;

/** The context and every request it was asked to send, in order. */
export interface FakeExchange {
  readonly ctx: ExchangeContext;
  readonly sent: OutgoingPdu[];
}

/** Creates the fake context on `scheduler`. */
export function fakeExchangeContext(scheduler: TestScheduler, answer: (request: OutgoingPdu) => FakeReply): FakeExchange {
  const tokens = new TokenMatcher(sequentialTokenGenerator(2));
  const sent: OutgoingPdu[] = [];
  const ctx: ExchangeContext = {
    tokens,
    send(request, _confirmable, callbacks) {
      sent.push(request);
      const action = scheduler.schedule(() => {
        const reply = answer(request);
        if (reply !== undefined) {
          tokens.route(createPdu({ type: MessageType.ACK, code: reply.code, token: request.token, options: reply.options, payload: reply.payload }));
        }
        callbacks.acknowledged();
      }, 1);
      return () => action.unsubscribe();
    },
    transmit: (request, confirmable): Observable<never> => transmitWith(ctx, request, confirmable),
    scheduler,
    responseTimeout: 10_000,
    nonTimeout: 10_000,
    peer: { host: '127.0.0.1', port: 5683 },
  };
  return { ctx, sent };
}
