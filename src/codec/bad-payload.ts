/**
 * The error of every payload decoder (text, JSON, CBOR, CBOR diagnostic notation): {@link CoapDecodeError} with
 * reason `'BAD_PAYLOAD'`, never fatal (the message itself was well formed).
 */
import { CoapDecodeError } from '../errors';

/** A `'BAD_PAYLOAD'` decode error at `offset` of the payload, with the decoder's own error as `cause`. */
export function badPayload(message: string, offset = 0, cause?: unknown): CoapDecodeError {
  const error = new CoapDecodeError('BAD_PAYLOAD', message, { offset });
  if (cause !== undefined) Object.defineProperty(error, 'cause', { value: cause, configurable: true, writable: true });
  return error;
}
