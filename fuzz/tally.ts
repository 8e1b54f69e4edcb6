/**
 * What one part of the harness counts: inputs, the four failure counts of the goal (uncaught exceptions,
 * unhandled rejections, hung requests, untyped errors), heap samples, and the first few offending inputs
 * of each kind so a failure can be reproduced.
 */
import { CoapError } from '../src/errors';

/** The failure counts of the goal row: each must be 0. */
export type FailureKind = 'uncaught' | 'unhandled' | 'hung' | 'untyped';

/** One recorded failure: what, where, with which input. */
export interface FailureSample {
  readonly kind: FailureKind;
  /** One line: the error's name and message, or what hung. */
  readonly summary: string;
  /** Input and context (hex bytes, request kind, world seed...), several lines. */
  readonly detail: string;
  /** Stack trace, when there is one. */
  readonly stack: string | undefined;
}

/** Distinct failures (by signature) kept per part, each with its first sample. */
const MAX_SIGNATURES = 16;

/**
 * What makes two failures "the same": the kind, the summary without numbers and hex, and the first stack
 * frame in the library (so one bug found 500 times prints once, with its count).
 */
function signatureOf(kind: FailureKind, summary: string, stack: string | undefined): string {
  // The request kind ('get', 'block2-get'...) is detail: one bug shows in many kinds.
  const text = summary.replace(/^'[^']*' /, '').replace(/\(([0-9a-f]{2} )+[^)]*\)/g, '(...)').replace(/[0-9]+/g, 'N');
  const frame = stack?.split('\n').find((line) => line.includes('/src/'))?.trim().replace(/:[0-9]+:[0-9]+\)?$/, '') ?? '';
  return `${kind}|${text}|${frame}`;
}

/** True for the errors the library promises: a CoapError (brand check) with a `COAP_ERR_` code. */
export function isTypedError(error: unknown): boolean {
  return error instanceof CoapError && typeof error.code === 'string' && error.code.startsWith('COAP_ERR_');
}

/** A short description of any thrown value. */
export function describeError(error: unknown): string {
  if (error instanceof Error) {
    const code = (error as { code?: unknown }).code;
    return `${error.name}${typeof code === 'string' ? ` [${code}]` : ''}: ${error.message}`;
  }
  return `non-Error value thrown: ${typeof error} ${String(error).slice(0, 200)}`;
}

/** The stack of an error (first lines). */
export function stackOf(error: unknown, lines = 12): string | undefined {
  if (!(error instanceof Error) || error.stack === undefined) return undefined;
  return error.stack.split('\n').slice(0, lines).join('\n');
}

/** Bytes as spaced hex, shortened in the middle when long. */
export function hex(bytes: Uint8Array, max = 96): string {
  const shown = bytes.length > max ? [...bytes.subarray(0, max - 16), -1, ...bytes.subarray(bytes.length - 16)] : [...bytes];
  return shown.map((byte) => (byte < 0 ? `... (${bytes.length} bytes) ...` : byte.toString(16).padStart(2, '0'))).join(' ');
}

/** Counters of one harness part. */
export class PartTally {
  readonly name: string;
  inputs = 0;
  uncaught = 0;
  unhandled = 0;
  hung = 0;
  untyped = 0;
  /** Heap used after a full GC, in bytes, at start, middle and end. */
  heap: { start?: number; middle?: number; end?: number } = {};
  /** Informational counts: outcomes, error codes, session events, peer behaviours. */
  readonly notes = new Map<string, number>();
  /** The first sample of each distinct failure, and how often it happened. */
  readonly samples: (FailureSample & { count: number })[] = [];
  readonly #signatures = new Map<string, FailureSample & { count: number }>();
  /** Wall-clock milliseconds the part ran. */
  elapsed = 0;

  constructor(name: string) {
    this.name = name;
  }

  /** Counts a failure and keeps its first few samples. */
  fail(kind: FailureKind, summary: string, detail: string, stack?: string): void {
    this[kind]++;
    const signature = signatureOf(kind, summary, stack);
    const known = this.#signatures.get(signature);
    if (known !== undefined) {
      known.count++;
      return;
    }
    if (this.#signatures.size >= MAX_SIGNATURES) return;
    const sample = { kind, summary, detail, stack, count: 1 };
    this.#signatures.set(signature, sample);
    this.samples.push(sample);
  }

  /** Checks an error delivered to a subscriber (or thrown by a decoder): untyped ones are failures. */
  checkError(error: unknown, detail: () => string): void {
    if (isTypedError(error)) {
      this.note(`error ${(error as CoapError).code}`);
      return;
    }
    this.fail('untyped', describeError(error), detail(), stackOf(error));
  }

  /** Adds to an informational count. */
  note(key: string, count = 1): void {
    this.notes.set(key, (this.notes.get(key) ?? 0) + count);
  }

  /** Sum of the four failure counts. */
  get failures(): number {
    return this.uncaught + this.unhandled + this.hung + this.untyped;
  }
}
