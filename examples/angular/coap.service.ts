/**
 * A standalone Angular service over rxcoap: one CoAP session per app (per injector), Observables for the async
 * pipe, and the session released when the injector is destroyed. In a browser the core picks the browser's own
 * WebSocket for coap+ws:// and coaps+ws:// by itself: nothing to register, no Node built-ins in the bundle.
 *
 *   providers: [{ provide: COAP_SERVER, useValue: 'coaps+ws://gateway.example:443' }]
 *
 * Type-checked by spec/examples/browser-examples.spec.ts (examples/angular/tsconfig.json).
 */
import { DestroyRef, Injectable, InjectionToken, inject } from '@angular/core';
import { CoapContext, throwOnErrorCode, type ClientSession, type CoapResponse } from 'rxcoap';
import { map, type Observable } from 'rxjs';

/** The CoAP server of the app, e.g. `'coap+ws://127.0.0.1:8080'`. */
export const COAP_SERVER = new InjectionToken<string>('COAP_SERVER', {
  providedIn: 'root',
  factory: () => `coap+ws://${globalThis.location?.hostname || '127.0.0.1'}:8080`,
});

@Injectable({ providedIn: 'root' })
export class CoapService {
  readonly #context = new CoapContext();
  readonly #session: ClientSession = this.#context.newClientSession({ server: inject(COAP_SERVER) });

  constructor() {
    // Deregisters live observations, closes the WebSocket (libcoap coap_session_release, coap_free_context).
    inject(DestroyRef).onDestroy(() => {
      this.#session.release();
      void this.#context.free();
    });
  }

  /**
   * The resource's notifications as text (RFC 7641), for the async pipe: `{{ coap.observe('/temperature') | async }}`.
   * The registration is made on the first subscription and cancelled (deregistered) when the last one ends;
   * subscribers of the same path share one registration.
   */
  observe(path: string): Observable<string> {
    return this.#session.observe(path).pipe(throwOnErrorCode(), map((response: CoapResponse) => response.text()));
  }

  /** One GET, its body as text; a 4.xx/5.xx errors with CoapResponseError. */
  get(path: string): Observable<string> {
    return this.#session.get(path).pipe(throwOnErrorCode(), map((response) => response.text()));
  }

  /** One PUT of a text body; emits the response code, e.g. `'2.04'`. */
  put(path: string, text: string): Observable<string> {
    return this.#session.put(path, { payload: text }).pipe(throwOnErrorCode(), map((response) => response.codeText));
  }
}
