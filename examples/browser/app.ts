/**
 * rxcoap in a web page: GET, PUT and observe over coap+ws:// or coaps+ws:// with the browser's own WebSocket
 * (the core picks it by itself; the browser does TLS). How to bundle and serve it: README.md beside this file.
 * Type-checked and bundled by spec/examples/browser-examples.spec.ts.
 */
import { CoapContext, type ClientSession } from 'rxcoap';
import type { Subscription } from 'rxjs';

const $ = <T extends HTMLElement>(id: string): T => document.getElementById(id) as T;
const serverInput = $<HTMLInputElement>('server');
const pathInput = $<HTMLInputElement>('path');
const bodyInput = $<HTMLInputElement>('body');
const log = $<HTMLPreElement>('log');

// ?server=coap+ws://127.0.0.1:8080 fills the field.
serverInput.value = new URLSearchParams(location.search).get('server') ?? `coap+ws://${location.hostname || '127.0.0.1'}:8080`;

const context = new CoapContext();
let session: ClientSession | undefined;
let observation: Subscription | undefined;

function write(line: string): void {
  log.textContent = `${new Date().toLocaleTimeString()}  ${line}\n${log.textContent ?? ''}`.slice(0, 20_000);
}

/** The session to the server in the field (a new one when the field changed). */
function currentSession(): ClientSession {
  const server = serverInput.value.trim();
  if (session === undefined || session.server !== server || session.closed) {
    observation?.unsubscribe();
    session?.release();
    session = context.newClientSession({ server });
  }
  return session;
}

function failed(error: unknown): void {
  write(error instanceof Error ? `${error.name}: ${error.message}` : String(error));
}

$('get').addEventListener('click', () => {
  try {
    currentSession()
      .get(pathInput.value)
      .subscribe({ next: (response) => write(`GET ${pathInput.value}: ${response.codeText} ${response.text()}`), error: failed });
  } catch (error) {
    failed(error); // a bad URI or option throws at the call
  }
});

$('put').addEventListener('click', () => {
  try {
    currentSession()
      .put(pathInput.value, { payload: bodyInput.value })
      .subscribe({ next: (response) => write(`PUT ${pathInput.value}: ${response.codeText}`), error: failed });
  } catch (error) {
    failed(error);
  }
});

$('observe').addEventListener('click', () => {
  if (observation !== undefined && !observation.closed) {
    observation.unsubscribe(); // deregisters (RFC 7641 §3.6)
    write(`stopped observing`);
    return;
  }
  try {
    const path = pathInput.value;
    observation = currentSession()
      .observe(path)
      .subscribe({ next: (response) => write(`${path} (Observe ${response.observe ?? '-'}): ${response.text()}`), error: failed });
  } catch (error) {
    failed(error);
  }
});

// Closing the page ends the session: the deregistrations and the WebSocket close go out.
addEventListener('pagehide', () => void context.free());
