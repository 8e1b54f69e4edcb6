/**
 * `decodeBody()`: each response's body as a value, decoded by its Content-Format (RFC 7252 §5.10.3): JSON for
 * `application/json` and `+json` types, CBOR for `application/cbor` and `+cbor` types (SenML+CBOR included),
 * text for `text/*`, link-format and XML, the bytes otherwise (a CBOR sequence, `cbor-seq`, too: it is several
 * items). The same classification the CLI prints by.
 */
import { map, type OperatorFunction } from 'rxjs';
import { bodyKind } from '../codec/body-kind';
import { contentFormatName } from '../codec/content-format';
import { decodeCbor, decodeJson, decodeText } from '../codec/payload';
import type { CoapResponse } from '../exchange/response';

/**
 * Maps each response to its decoded body. A body that is not what its Content-Format says (bad JSON, bad CBOR,
 * bad UTF-8) errors the Observable with `CoapDecodeError`; an empty body is `undefined`.
 * @example `session.observe('/sensors/temp').pipe(decodeBody<SenmlRecord[]>())`
 */
export function decodeBody<T = unknown>(): OperatorFunction<Pick<CoapResponse, 'payload' | 'contentFormat'>, T> {
  return map((response) => {
    const payload = response.payload;
    if (payload.length === 0) return undefined as T;
    switch (bodyKind(response.contentFormat, payload)) {
      case 'json':
        return decodeJson(payload) as T;
      case 'cbor':
        return (contentFormatName(response.contentFormat!)?.includes('cbor-seq') === true ? payload : decodeCbor(payload)) as T;
      case 'text':
      case 'link-format':
        return decodeText(payload) as T;
      default:
        return payload as T;
    }
  });
}
