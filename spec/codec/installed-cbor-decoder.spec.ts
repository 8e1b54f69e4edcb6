/**
 * `CoapResponse.cbor()` decodes with an installed decoder (issue 18: cbor-x's decoder stays out of browser bundles
 * that read no CBOR): `rxcoap/node` installs it, a browser app imports `rxcoap/cbor`; without either, `cbor()`
 * throws a CoapArgumentError that says what to import. Each case loads the modules afresh (jest.isolateModules),
 * so what one case installs is not seen by the next.
 */
import { CoapArgumentError, CoapDecodeError } from '../../src/errors';
import { cborPayload } from '../../src/codec/payload';
import { createPdu, MessageType, ResponseCode } from '../../src/codec/pdu';
import type * as ResponseModule from '../../src/exchange/response';
import { isolated } from '../helpers/isolated-modules';

/** The response class from modules loaded afresh, after `setup` required what it names. */
function freshResponse(setup: () => void): typeof ResponseModule.CoapResponse {
  return isolated(() => (require('../../src/exchange/response') as typeof ResponseModule).CoapResponse, setup);
}

function cborResponse(Response: typeof ResponseModule.CoapResponse, payload: Uint8Array): ResponseModule.CoapResponse {
  return new Response(createPdu({ type: MessageType.ACK, code: ResponseCode.Content, payload }), { host: '127.0.0.1', port: 5683 });
}

describe('CoapResponse.cbor() and the installed CBOR decoder', () => {
  it("throws CoapArgumentError naming 'rxcoap/cbor' when only the core is loaded; text() and json() still work", () => {
    const Response = freshResponse(() => require('../../src/index'));
    const response = cborResponse(Response, cborPayload({ t: 21.5 }));
    let thrown: unknown;
    try {
      response.cbor();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CoapArgumentError);
    expect(thrown).toMatchObject({ code: 'COAP_ERR_ARGUMENT', field: 'cbor' });
    expect((thrown as Error).message).toContain("import 'rxcoap/cbor'");
    expect(cborResponse(Response, new TextEncoder().encode('{"a":1}')).json()).toEqual({ a: 1 });
  });

  it("decodes after import 'rxcoap/cbor', and malformed CBOR is still CoapDecodeError 'BAD_PAYLOAD' with its offset", () => {
    const Response = freshResponse(() => require('../../src/cbor'));
    expect(cborResponse(Response, cborPayload({ t: 21.5, raw: Uint8Array.of(1, 2) })).cbor()).toEqual({ t: 21.5, raw: Uint8Array.of(1, 2) });
    let thrown: unknown;
    try {
      cborResponse(Response, Uint8Array.of(0x83, 0x01, 0x02, 0x82)).cbor();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(CoapDecodeError);
    expect(thrown).toMatchObject({ reason: 'BAD_PAYLOAD', offset: 3 });
  });

  it('decodes out of the box with rxcoap/node', () => {
    const Response = freshResponse(() => require('../../src/node'));
    expect(cborResponse(Response, cborPayload([1, 'two', { three: 3 }])).cbor()).toEqual([1, 'two', { three: 3 }]);
  });
});
