/** Human output: kubectl-style aligned tables, short ages, severity ordering. */

const SEVERITY_RANK: Record<string, number> = { Critical: 4, High: 3, Medium: 2, Low: 1, Negligible: 0 };

/** Severity rank for sorting, most severe highest; unknown labels rank lowest. */
export function severityRank(severity: string): number {
  return SEVERITY_RANK[severity] ?? -1;
}

/**
 * Lays out rows under upper-case headers, columns three spaces apart, no trailing spaces.
 *
 * @example table(['NAME', 'ACTION'], [['deny-critical', 'Deny']])
 * // NAME            ACTION
 * // deny-critical   Deny
 */
export function table(headers: readonly string[], rows: readonly (readonly string[])[]): string {
  const clean = (cell: string) => cell.replace(/\s+/g, ' ');
  const all = [headers.map(clean), ...rows.map((r) => headers.map((_, i) => clean(r[i] ?? '')))];
  const widths = headers.map((_, i) => Math.max(...all.map((r) => r[i]!.length)));
  return all
    .map((r) =>
      r
        .map((cell, i) => (i === r.length - 1 ? cell : cell.padEnd(widths[i]!)))
        .join('   ')
        .trimEnd(),
    )
    .join('\n');
}

/** "3d", "5h", "12m", "40s": how long ago, as kubectl's AGE column. */
export function age(iso: string | undefined, now: Date): string {
  if (iso === undefined || iso === '') return '<unknown>';
  const ms = now.getTime() - Date.parse(iso);
  if (Number.isNaN(ms)) return '<unknown>';
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 120) return `${s}s`;
  const m = Math.floor(s / 60);
  if (m < 120) return `${m}m`;
  const h = Math.floor(m / 60);
  if (h < 48) return `${h}h`;
  return `${Math.floor(h / 24)}d`;
}

/** An ISO time to the second, `2024-05-01T12:00:00Z`. */
export function isoSeconds(iso: string): string {
  const t = Date.parse(iso);
  return Number.isNaN(t) ? iso : new Date(t).toISOString().replace(/\.\d{3}Z$/, 'Z');
}

export function orNone(value: string | undefined | null): string {
  return value === undefined || value === null || value === '' ? '<none>' : value;
}

/** Cuts a cell to `max` characters with an ellipsis. */
export function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}

/** "1 image", "4 vulnerabilities". */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
