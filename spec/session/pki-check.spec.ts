/**
 * The context checks certificate options once a transport that takes them is registered (issue 18: a browser
 * bundle, whose only secure transport is the platform WebSocket, does not carry the checks): with rxcoap/node, or
 * any `registerTransport` with `credentials` 'pki' / 'psk-or-pki', a malformed `pki` throws CoapArgumentError
 * naming its field before any transport is made; without one, certificates are still refused, by the platform
 * WebSocket rule (`field` 'pki'). Each case loads the modules afresh (jest.isolateModules).
 */
import { EMPTY } from 'rxjs';
import { argumentErrorOf, isolatedContextAndRegistry } from '../helpers/isolated-modules';

const fresh = isolatedContextAndRegistry;
const thrown = argumentErrorOf;

const BAD_PKI = { pki: { verifyPeerCert: 'yes' } as never };

const original = (globalThis as { WebSocket?: unknown }).WebSocket;
afterEach(() => {
  (globalThis as { WebSocket?: unknown }).WebSocket = original;
});

describe('certificate options are checked once a transport takes them', () => {
  it('with a registered transport that takes certificates: the field is named, and no transport is made', () => {
    const { CoapContext, registerTransport } = fresh();
    const make = jest.fn(() => () => EMPTY);
    registerTransport('tls', make, { reliable: true, credentials: 'psk-or-pki' });
    const error = thrown(() => new CoapContext().newClientSessionPki({ server: 'coaps+tcp://127.0.0.1', ...BAD_PKI }));
    expect(error).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'pki.verifyPeerCert' });
    expect(make).not.toHaveBeenCalled();
    // The context's own pki, for a secure stream without credentials: checked too, named as the context's.
    const withPki = new CoapContext({ pki: { pkiKey: { keyType: 'der' } } as never });
    expect(thrown(() => withPki.newClientSession({ server: 'coaps+tcp://127.0.0.1' }))).toMatchObject({ field: 'pki (context).pkiKey.keyType' });
  });

  it('with rxcoap/node', () => {
    const { CoapContext } = fresh(() => require('../../src/node'));
    expect(thrown(() => new CoapContext().newClientSessionPki({ server: 'coaps+tcp://127.0.0.1', ...BAD_PKI }))).toMatchObject({ field: 'pki.verifyPeerCert' });
  });

  it('without one (a browser: the platform WebSocket does TLS), certificates are refused all the same', () => {
    (globalThis as { WebSocket?: unknown }).WebSocket = class {};
    const { CoapContext } = fresh();
    const error = thrown(() => new CoapContext().newClientSessionPki({ server: 'coaps+ws://127.0.0.1', ...BAD_PKI }));
    expect(error).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'pki' });
    expect(error.message).toMatch(/does TLS itself: it cannot take certificates/);
  });
});
