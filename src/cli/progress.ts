/**
 * The progress bar of block-wise transfers (cli-progress), drawn on stderr only when stderr is a terminal:
 * a pipe or a file never gets control sequences. It appears from the first partial body of a transfer that
 * is not yet complete, so small responses never flash a bar.
 *
 * cli-progress is an optional dependency (library users need not install it): it is loaded on the first bar,
 * and without it the CLI draws none.
 */
import type { SingleBar } from 'cli-progress';
import type { BlockProgress } from '../exchange/response';

/** Follows one or more block-wise transfers. */
export interface TransferProgress {
  /** One more part arrived. */
  update(progress: BlockProgress): void;
  /** Ends the bar (the transfer failed, was cancelled, or the program ends). */
  stop(): void;
}

const noProgress: TransferProgress = { update: () => undefined, stop: () => undefined };

/** The stream the bar goes to (process.stderr), as far as this file needs it. */
export type ProgressStream = NodeJS.WritableStream & { readonly isTTY?: boolean };

/** cli-progress's bar, or undefined when it is not installed (looked up once). */
let barClass: typeof SingleBar | null | undefined;
function loadBarClass(): typeof SingleBar | undefined {
  if (barClass === undefined) {
    try {
      // eslint-disable-next-line @typescript-eslint/no-require-imports
      barClass = (require('cli-progress') as typeof import('cli-progress')).SingleBar;
    } catch {
      barClass = null;
    }
  }
  return barClass ?? undefined;
}

function kib(bytes: number): string {
  return bytes < 10 * 1024 ? `${bytes} B` : `${(bytes / 1024).toFixed(0)} KiB`;
}

/**
 * A bar on `stream` when it is a TTY, else nothing at all.
 * @param stream - normally `process.stderr`
 * @param label - what is transferred, e.g. the path
 */
export function createTransferProgress(stream: ProgressStream, label: string): TransferProgress {
  if (stream.isTTY !== true) return noProgress;
  const Bar = loadBarClass();
  if (Bar === undefined) return noProgress;
  let bar: SingleBar | undefined;
  let knownTotal = false;
  const stop = (): void => {
    bar?.stop();
    bar = undefined;
  };
  return {
    update(progress: BlockProgress): void {
      if (bar === undefined) {
        if (progress.complete) return; // the whole body in one piece: nothing to show
        knownTotal = progress.total !== undefined;
        bar = new Bar({
          stream,
          format: knownTotal
            ? `${label} [{bar}] {percentage}% | {received} of {size} | {eta_formatted}`
            : `${label} {received} (size unknown)`,
          barsize: 30,
          hideCursor: true,
          clearOnComplete: false,
          fps: 15,
        });
        // Without Size2 the total grows with each block, one block ahead, until the last one.
        bar.start(progress.total ?? progress.received + 1, 0, { received: kib(0), size: kib(progress.total ?? 0) });
      }
      const total = progress.total ?? (progress.complete ? progress.received : progress.received + 1);
      if (!knownTotal || total !== bar.getTotal()) bar.setTotal(total);
      bar.update(progress.received, { received: kib(progress.received), size: kib(total) });
      if (progress.complete) stop();
    },
    stop,
  };
}
