/**
 * One line of a benchmark table: a figure measured for rxcoap and for the peer it is compared with.
 */
export interface BenchRow {
  /** What was measured, e.g. `'decode: small GET'`. */
  figure: string;
  /** rxcoap's result, in {@link BenchRow.unit}. */
  ours: number;
  /** The peer's result, in {@link BenchRow.unit}. */
  theirs: number;
  /** Unit of both results, e.g. `'ops/s'`. */
  unit: string;
  /** `ours / theirs` (higher is better for rates). */
  ratio: number;
  /** The goal for the ratio, e.g. `'>= 3x'`. */
  goal: string;
}
