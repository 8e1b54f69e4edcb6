/**
 * The one table of the run: a row per part with its inputs, the four failure counts, heap start/middle/end,
 * the goal and a verdict, plain text, aligned.
 */
import { HEAP_GROWTH_BOUND, canCollect, mib } from './heap';
import type { PartTally } from './tally';

/** True when the part's heap grew beyond the bound (only judged after full GCs). */
export function heapGrewTooMuch(tally: PartTally): boolean {
  const { start, end } = tally.heap;
  return canCollect && start !== undefined && end !== undefined && end - start > HEAP_GROWTH_BOUND;
}

/** True when the part met the goal. */
export function passed(tally: PartTally): boolean {
  return tally.failures === 0 && !heapGrewTooMuch(tally);
}

function count(value: number): string {
  return value.toLocaleString('en-US');
}

/** Formats the table (header, a row per part, a total row). */
export function formatTable(tallies: readonly PartTally[]): string {
  const bound = `${HEAP_GROWTH_BOUND / (1024 * 1024)} MiB`;
  const goal = `0 0 0 0, +<=${bound}`;
  const header = ['part', 'inputs', 'uncaught', 'unhandled rej.', 'hung', 'untyped', 'heap MiB start/mid/end', 'seconds', 'goal', 'verdict'];
  const rows = tallies.map((tally) => [
    tally.name,
    count(tally.inputs),
    count(tally.uncaught),
    count(tally.unhandled),
    count(tally.hung),
    count(tally.untyped),
    `${mib(tally.heap.start)}/${mib(tally.heap.middle)}/${mib(tally.heap.end)}`,
    (tally.elapsed / 1000).toFixed(1),
    goal,
    passed(tally) ? 'pass' : heapGrewTooMuch(tally) && tally.failures === 0 ? 'FAIL (heap)' : 'FAIL',
  ]);
  const sum = (pick: (tally: PartTally) => number): string => count(tallies.reduce((total, tally) => total + pick(tally), 0));
  rows.push([
    'total',
    sum((t) => t.inputs),
    sum((t) => t.uncaught),
    sum((t) => t.unhandled),
    sum((t) => t.hung),
    sum((t) => t.untyped),
    canCollect ? '' : '(no --expose-gc)',
    (tallies.reduce((total, tally) => total + tally.elapsed, 0) / 1000).toFixed(1),
    '>= 1,000,000 inputs',
    tallies.every(passed) ? 'pass' : 'FAIL',
  ]);
  const numeric = new Set([1, 2, 3, 4, 5, 7]);
  const widths = header.map((title, column) => Math.max(title.length, ...rows.map((row) => row[column].length)));
  const line = (cells: readonly string[]): string =>
    cells.map((cell, column) => (numeric.has(column) ? cell.padStart(widths[column]) : cell.padEnd(widths[column]))).join('  ').trimEnd();
  const rule = widths.map((width) => '-'.repeat(width)).join('  ');
  return [line(header), rule, ...rows.slice(0, -1).map(line), rule, line(rows[rows.length - 1])].join('\n');
}
