/**
 * The context checks pre-shared keys once a transport that takes them is registered (issue 18: a browser bundle,
 * whose only secure transport is the platform WebSocket, does not carry the checks): with rxcoap/node, or any
 * `registerTransport` with `credentials` 'psk' / 'psk-or-pki', a malformed `psk` throws CoapArgumentError naming its
 * field at `new CoapContext` and at `newClientSessionPsk`; without one, a PSK is still refused, by the platform
 * WebSocket rule (`field` 'psk'). Each case loads the modules afresh (jest.isolateModules).
 */
import { EMPTY } from 'rxjs';
import { argumentErrorOf, isolatedContextAndRegistry } from '../helpers/isolated-modules';

const fresh = isolatedContextAndRegistry;
const thrown = argumentErrorOf;

const BAD_PSK = { identity: 'id', key: '' };

const original = (globalThis as { WebSocket?: unknown }).WebSocket;
afterEach(() => {
  (globalThis as { WebSocket?: unknown }).WebSocket = original;
});

describe('pre-shared keys are checked once a transport takes them', () => {
  it('with a registered transport that takes a PSK: the field is named, and no transport is made', () => {
    const { CoapContext, registerTransport } = fresh();
    const make = jest.fn(() => () => EMPTY);
    registerTransport('dtls', make, { credentials: 'psk' });
    expect(thrown(() => new CoapContext({ psk: BAD_PSK }))).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'psk.key' });
    expect(thrown(() => new CoapContext().newClientSessionPsk({ server: 'coaps://127.0.0.1', psk: BAD_PSK }))).toMatchObject({ field: 'psk.key' });
    expect(thrown(() => new CoapContext().newClientSessionPsk('coaps://127.0.0.1'))).toMatchObject({ field: 'psk' });
    expect(make).not.toHaveBeenCalled();
  });

  it('with rxcoap/node', () => {
    const { CoapContext } = fresh(() => require('../../src/node'));
    expect(thrown(() => new CoapContext({ psk: BAD_PSK }))).toMatchObject({ field: 'psk.key' });
  });

  it('without one (a browser: the platform WebSocket does TLS), a PSK is refused all the same', () => {
    (globalThis as { WebSocket?: unknown }).WebSocket = class {};
    const { CoapContext } = fresh();
    const error = thrown(() => new CoapContext().newClientSessionPsk({ server: 'coaps+ws://127.0.0.1', psk: BAD_PSK }));
    expect(error).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'psk' });
    expect(error.message).toMatch(/does TLS itself: it cannot take a PSK/);
    expect(thrown(() => new CoapContext({ psk: 'not an object' as never }))).toMatchObject({ field: 'psk' });
  });
});
