/**
 * Argument checks of the API layer. Every check throws {@link CoapArgumentError} with `field` set to the
 * argument as the caller wrote it (`'server.host'`, `'options[2].value'`) and a message that starts with it:
 * `'server.host must be a non-empty string, got \'\''`. Plain functions, no allocation on success: some run
 * per request.
 */
import { CoapArgumentError } from './errors';

/** A short, key-free description of a value for an error message. */
export function describeValue(value: unknown): string {
  switch (typeof value) {
    case 'string':
      return `'${value.length > 40 ? `${value.slice(0, 40)}...` : value}'`;
    case 'number':
    case 'boolean':
    case 'bigint':
    case 'undefined':
      return String(value);
    case 'function':
      return 'a function';
    case 'symbol':
      return 'a symbol';
  }
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (value instanceof Uint8Array) return `${value.length} bytes`;
  return 'an object';
}

/** `field` is wrong: `problem` says what it must be; the message ends with what it was. */
export function invalidArgument(field: string, problem: string, value: unknown, cause?: unknown): CoapArgumentError {
  return new CoapArgumentError(`${field} ${problem}, got ${describeValue(value)}`, { field, cause });
}

/** An object that is not null, an array or bytes: what an options or init argument must be. */
export function isRecord(value: unknown): value is Readonly<Record<string, unknown>> {
  return typeof value === 'object' && value !== null && !Array.isArray(value) && !(value instanceof Uint8Array);
}

/** Throws unless `value` is an options object (see {@link isRecord}). */
export function checkRecord(value: unknown, field: string, what = 'an object'): asserts value is Readonly<Record<string, unknown>> {
  if (!isRecord(value)) throw invalidArgument(field, `must be ${what}`, value);
}

/** Throws unless `value` is undefined or a boolean. */
export function checkOptionalBoolean(value: unknown, field: string): asserts value is boolean | undefined {
  if (value !== undefined && typeof value !== 'boolean') throw invalidArgument(field, 'must be true or false', value);
}

/** Throws unless `value` is undefined or a function. */
export function checkOptionalFunction(value: unknown, field: string): void {
  if (value !== undefined && typeof value !== 'function') throw invalidArgument(field, 'must be a function', value);
}

/** Throws unless `value` is an integer in `min..max`. */
export function checkInteger(value: unknown, field: string, min: number, max: number): asserts value is number {
  if (typeof value !== 'number' || !Number.isInteger(value) || value < min || value > max) {
    throw invalidArgument(field, `must be an integer in ${min}..${max}`, value);
  }
}

/** Throws unless `value` is undefined or an integer in `min..max`. */
export function checkOptionalInteger(value: unknown, field: string, min: number, max: number): asserts value is number | undefined {
  if (value !== undefined) checkInteger(value, field, min, max);
}

/** RFC 7959 §2.2: a block is 2^(SZX+4) bytes, SZX 0..6 (16..1024). */
export function checkBlockSize(value: unknown, field: string): asserts value is number {
  if (typeof value !== 'number' || value < 16 || value > 1024 || (value & (value - 1)) !== 0) {
    throw invalidArgument(field, 'must be a block size: a power of two in 16..1024 (RFC 7959 §2.2)', value);
  }
}

/** Throws for a key of `value` that is not in `known` (a typo would otherwise be ignored). */
export function checkKnownKeys(value: Readonly<Record<string, unknown>>, field: string, known: ReadonlySet<string>): void {
  for (const key of Object.keys(value)) {
    if (!known.has(key)) throw new CoapArgumentError(`${field}.${key} is not an option here (known: ${[...known].join(', ')})`, { field: `${field}.${key}` });
  }
}

/**
 * Throws unless the back-off fields of `value` (`initialDelay`, `maxDelay`: milliseconds; `maxAttempts`) are
 * absent or valid: reconnect options and re-registration policies share them.
 */
export function checkBackoff(value: Readonly<Record<string, unknown>>, field: string): void {
  for (const key of ['initialDelay', 'maxDelay'] as const) {
    const delay = value[key];
    if (delay !== undefined && (typeof delay !== 'number' || !(delay >= 0) || delay > 0x7fffffff)) {
      throw invalidArgument(`${field}.${key}`, 'must be a number of milliseconds in 0..2147483647', delay);
    }
  }
  checkOptionalInteger(value.maxAttempts, `${field}.maxAttempts`, 1, 1_000_000);
}
