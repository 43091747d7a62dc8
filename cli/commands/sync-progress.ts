/**
 * The progress of a sync run as `registries sync` follows it: a bar redrawn in place when
 * stderr is a terminal, plain lines (one per change) when it is a pipe or a CI log.
 */
import type { SyncRun } from '../../core/domain.js';
import type { Context } from '../context.js';
import { plural } from '../output.js';

const BAR_WIDTH = 24;

/** `12s`, `3m05s`, `1h02m`. */
export function formatDuration(ms: number): string {
  const s = Math.max(0, Math.round(ms / 1000));
  if (s < 60) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(m / 60)}h${String(m % 60).padStart(2, '0')}m`;
}

/** The bar for `done` of `total`: `[#########---------------]  37%`. */
export function progressBar(done: number, total: number, width = BAR_WIDTH): string {
  const ratio = total > 0 ? Math.min(1, done / total) : 0;
  const filled = Math.round(ratio * width);
  return `[${'#'.repeat(filled)}${'-'.repeat(width - filled)}] ${String(Math.floor(ratio * 100)).padStart(3)}%`;
}

/** One status line of a running run (without the bar). */
export function progressLine(run: SyncRun, elapsedMs: number): string {
  const images =
    run.totalImages === undefined ? plural(run.images, 'image') : `${run.images}/${run.totalImages} images`;
  return `${images}, ${plural(run.vulnerabilities, 'vulnerability', 'vulnerabilities')}, ${formatDuration(elapsedMs)}`;
}

/** Draws a run's progress on stderr until `done()`. */
export class ProgressReporter {
  private readonly tty: boolean;
  private drawn = false;
  private lastLine = '';
  private readonly started: number;

  constructor(
    private readonly ctx: Context,
    private readonly registry: string,
  ) {
    this.tty = ctx.io.stderrIsTTY === true && !ctx.json;
    this.started = ctx.io.now().getTime();
  }

  update(run: SyncRun): void {
    const elapsed = this.ctx.io.now().getTime() - this.started;
    if (this.tty) {
      const bar = run.totalImages === undefined ? '' : `${progressBar(run.images, run.totalImages)} `;
      const text = `syncing ${this.registry} ${bar}${progressLine(run, elapsed)}`;
      const width = Math.max(20, (this.ctx.io.columns ?? 80) - 1);
      // \r and clear-to-end-of-line: the bar is redrawn where it stands.
      this.ctx.io.stderr(`\r${text.slice(0, width)}\u001b[K`);
      this.drawn = true;
      return;
    }
    // A log gets a line only when the counts move, never one per poll.
    const line = `syncing ${this.registry}: ${progressLine(run, elapsed).replace(/, [^,]+$/, '')}`;
    if (line !== this.lastLine) this.ctx.note(line);
    this.lastLine = line;
  }

  /** Ends the bar's line so what follows starts on a fresh one. */
  done(): void {
    if (this.drawn) this.ctx.io.stderr('\r\u001b[K');
    this.drawn = false;
  }
}
