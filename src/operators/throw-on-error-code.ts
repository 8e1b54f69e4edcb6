/**
 * `throwOnErrorCode()`, for those who want HTTP-client behaviour: turns 4.xx/5.xx responses into
 * `CoapResponseError`. Without it any response code is a value (CoAP responses are answers, not failures).
 */
import { map, type OperatorFunction } from 'rxjs';
import { CoapResponseError } from '../errors';
import type { CoapResponse } from '../exchange/response';

/**
 * Errors with {@link CoapResponseError} (carrying the response) on the first response that is not 2.xx.
 * @example `session.get('/x').pipe(throwOnErrorCode())`
 */
export function throwOnErrorCode(): OperatorFunction<CoapResponse, CoapResponse> {
  return map((response) => {
    if (response.ok) return response;
    throw responseError(response);
  });
}

/** The error `throwOnErrorCode()` raises for `response`: its code name and, when short, its diagnostic payload. */
export function responseError(response: CoapResponse): CoapResponseError<CoapResponse> {
  const diagnostic = response.payload.length > 0 && response.payload.length <= 200 ? `: ${safeText(response)}` : '';
  return new CoapResponseError<CoapResponse>(`the server answered ${response.codeName}${diagnostic}`, response);
}

function safeText(response: CoapResponse): string {
  try {
    return response.text();
  } catch {
    return `${response.payload.length} bytes`;
  }
}
