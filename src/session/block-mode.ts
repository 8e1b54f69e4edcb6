/**
 * Block-wise mode (libcoap `coap_context_set_block_mode`), in two spellings: an object of booleans, or libcoap's
 * flags OR-ed together (`BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY`), for code ported from libcoap.
 */
import { CoapArgumentError } from '../errors';
import { checkKnownKeys, checkOptionalBoolean, describeValue, invalidArgument, isRecord } from '../validate';

/**
 * libcoap's block mode flags, with libcoap's values (`coap_block.h`), for `ctx.setBlockMode()` and the
 * `blockMode` option: `ctx.setBlockMode(BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY)`.
 * A flag that is not set is off, as in libcoap: `BlockMode.USE_LIBCOAP` alone emits each block as it arrives.
 */
export const BlockMode = {
  /** COAP_BLOCK_USE_LIBCOAP: the library does block-wise transfers (RFC 7959). */
  USE_LIBCOAP: 0x01,
  /** COAP_BLOCK_SINGLE_BODY: emit one response with the whole body, not one per block. */
  SINGLE_BODY: 0x02,
  /** COAP_BLOCK_NO_PREEMPTIVE_RTAG: a Request-Tag (RFC 9175) only on bodies sent block-wise. */
  NO_PREEMPTIVE_RTAG: 0x10,
} as const;

/** libcoap block mode flags OR-ed together: a combination of {@link BlockMode} values. */
export type BlockModeFlags = number;

/**
 * Block-wise behaviour as an object (libcoap `coap_context_set_block_mode`).
 * - `useLibrary` (COAP_BLOCK_USE_LIBCOAP): the library does block-wise transfers. Default true.
 * - `singleBody` (COAP_BLOCK_SINGLE_BODY): emit one response with the whole body; otherwise emit each block as
 *   a partial response with progress. Default true.
 * - `noPreemptiveRequestTag` (COAP_BLOCK_NO_PREEMPTIVE_RTAG): Request-Tag only on Block1 bodies. Default false.
 */
export interface BlockModeOptions {
  readonly useLibrary?: boolean;
  readonly singleBody?: boolean;
  readonly noPreemptiveRequestTag?: boolean;
}

/**
 * The object form of a block mode, under its first name; `setBlockMode` and the `blockMode` option also take
 * {@link BlockModeFlags}.
 */
export type BlockMode = BlockModeOptions;

/** A block mode with every setting decided. */
export type ResolvedBlockMode = Required<BlockModeOptions>;

/** The default: the library does block-wise transfers and emits whole bodies (libcoap's USE_LIBCOAP | SINGLE_BODY). */
const DEFAULT_BLOCK_MODE: ResolvedBlockMode = { useLibrary: true, singleBody: true, noPreemptiveRequestTag: false };

const KNOWN_KEYS: ReadonlySet<string> = new Set(['useLibrary', 'singleBody', 'noPreemptiveRequestTag']);

const KNOWN_FLAGS = BlockMode.USE_LIBCOAP | BlockMode.SINGLE_BODY | BlockMode.NO_PREEMPTIVE_RTAG;

/** libcoap flags rxcoap does not implement, named for the error message. */
const UNSUPPORTED_FLAGS: readonly [number, string][] = [
  [0x04, 'COAP_BLOCK_TRY_Q_BLOCK'],
  [0x08, 'COAP_BLOCK_USE_M_Q_BLOCK'],
  [0x20, 'COAP_BLOCK_STLESS_FETCH'],
  [0x40, 'COAP_BLOCK_STLESS_BLOCK2'],
];

/**
 * Checks a block mode (object or flags) and fills in the defaults of the object form. Throws
 * {@link CoapArgumentError} naming the field for anything else (`3.5`, `'single'`, `null`, `{ useLibrary: 'no' }`,
 * an unknown key, a libcoap flag rxcoap does not implement).
 * @param mode - the mode; undefined gives the default
 * @param field - the argument name for the error
 */
export function resolveBlockMode(mode: unknown, field = 'blockMode'): ResolvedBlockMode {
  if (mode === undefined) return DEFAULT_BLOCK_MODE;
  if (typeof mode === 'number') {
    if (!Number.isInteger(mode) || mode < 0 || (mode & ~KNOWN_FLAGS) !== 0) {
      const unsupported = Number.isInteger(mode) && mode > 0 ? UNSUPPORTED_FLAGS.filter(([flag]) => (mode & flag) !== 0).map(([, name]) => name) : [];
      const detail = unsupported.length > 0 ? ` (${unsupported.join(', ')} is not supported)` : '';
      throw new CoapArgumentError(
        `${field} must be BlockMode flags (USE_LIBCOAP | SINGLE_BODY | NO_PREEMPTIVE_RTAG) or an object, got ${describeValue(mode)}${detail}`,
        { field },
      );
    }
    return {
      useLibrary: (mode & BlockMode.USE_LIBCOAP) !== 0,
      singleBody: (mode & BlockMode.SINGLE_BODY) !== 0,
      noPreemptiveRequestTag: (mode & BlockMode.NO_PREEMPTIVE_RTAG) !== 0,
    };
  }
  if (!isRecord(mode)) throw invalidArgument(field, 'must be BlockMode flags or an object { useLibrary?, singleBody?, noPreemptiveRequestTag? }', mode);
  checkKnownKeys(mode, field, KNOWN_KEYS);
  const { useLibrary, singleBody, noPreemptiveRequestTag } = mode as BlockModeOptions;
  checkOptionalBoolean(useLibrary, `${field}.useLibrary`);
  checkOptionalBoolean(singleBody, `${field}.singleBody`);
  checkOptionalBoolean(noPreemptiveRequestTag, `${field}.noPreemptiveRequestTag`);
  return {
    useLibrary: useLibrary ?? DEFAULT_BLOCK_MODE.useLibrary,
    singleBody: singleBody ?? DEFAULT_BLOCK_MODE.singleBody,
    noPreemptiveRequestTag: noPreemptiveRequestTag ?? DEFAULT_BLOCK_MODE.noPreemptiveRequestTag,
  };
}
