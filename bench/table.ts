/**
 * Prints the benchmark table: figure | rxcoap | peer | ratio | goal | met?. A row may carry an error (the
 * figure failed: the text says why) and a note (sessions, NSTART, what the peer is).
 */
import type { BenchRow } from './bench-row';

/** A table row: a {@link BenchRow}, or a failed figure. */
export interface TableRow extends Partial<BenchRow> {
  readonly figure: string;
  /** Why the figure has no result. */
  readonly error?: string;
  /** Short explanation printed under the table. */
  readonly note?: string;
  /** Overrides the automatic "met?" when the goal is not a plain ratio (e.g. also "nothing lost"). */
  readonly met?: boolean;
}

/** Formats a number with 3 significant digits, or in thousands. */
export function formatValue(value: number | undefined, unit = ''): string {
  if (value === undefined || !Number.isFinite(value)) return '-';
  const abs = Math.abs(value);
  const text = abs >= 1e6 ? `${(value / 1e6).toFixed(2)}M` : abs >= 1e4 ? `${(value / 1e3).toFixed(1)}k` : abs >= 100 ? value.toFixed(0) : abs >= 1 ? value.toFixed(2) : value.toPrecision(3);
  return unit === '' ? text : `${text} ${unit}`;
}

/** Evaluates a goal such as `'>= 0.85x'` or `'<= 1.2x'` against a ratio. */
export function goalMet(ratio: number | undefined, goal: string | undefined): boolean | undefined {
  if (ratio === undefined || goal === undefined || !Number.isFinite(ratio)) return undefined;
  const match = /^\s*(>=|<=)\s*([0-9.]+)\s*x?/.exec(goal);
  if (match === null) return undefined;
  const bound = Number(match[2]);
  return match[1] === '>=' ? ratio >= bound : ratio <= bound;
}

/** The table as markdown-style text (also readable in a terminal). */
export function formatTable(rows: readonly TableRow[]): string {
  const header = ['figure', 'rxcoap', 'peer', 'ratio', 'goal', 'met?'];
  const lines: string[][] = [header];
  const notes: string[] = [];
  for (const row of rows) {
    if (row.error !== undefined) {
      lines.push([row.figure, 'FAILED', '-', '-', row.goal ?? '-', 'NO (failed)']);
      notes.push(`- ${row.figure}: FAILED: ${row.error.replace(/\s+/g, ' ').slice(0, 400)}`);
    } else {
      const met = row.met ?? goalMet(row.ratio, row.goal);
      lines.push([
        row.figure,
        formatValue(row.ours, row.unit),
        formatValue(row.theirs, row.unit),
        row.ratio === undefined || !Number.isFinite(row.ratio) ? '-' : `${row.ratio.toFixed(2)}x`,
        row.goal ?? '-',
        met === undefined ? '-' : met ? 'yes' : 'NO',
      ]);
    }
    if (row.note !== undefined) notes.push(`- ${row.figure}: ${row.note}`);
  }
  const widths = header.map((_, column) => Math.max(...lines.map((line) => line[column].length)));
  const render = (line: string[]): string => `| ${line.map((cell, column) => cell.padEnd(widths[column])).join(' | ')} |`;
  const out = [render(lines[0]), `|${widths.map((width) => '-'.repeat(width + 2)).join('|')}|`, ...lines.slice(1).map(render)];
  if (notes.length > 0) out.push('', 'Notes:', ...notes);
  return out.join('\n');
}

/** Prints the table to stdout. */
export function printTable(rows: readonly TableRow[]): void {
  process.stdout.write(`${formatTable(rows)}\n`);
}
