/** Moved to `src/operators/throw-on-error-code.ts` (`rxcoap/operators`); this path stays for older imports. */
export { throwOnErrorCode } from '../operators/throw-on-error-code';
