/**
 * Small helpers for printing results: order statistics, number formats and
 * plain-text tables (right-aligned numbers, left-aligned first column).
 *
 * Example:
 *   console.log(table(['mode', 'ns'], [['none', fmt(412.3, 1)]]));
 */

export function median(xs: readonly number[]): number {
  if (xs.length === 0) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = s.length >> 1;
  return s.length % 2 ? (s[mid] as number) : ((s[mid - 1] as number) + (s[mid] as number)) / 2;
}

export function min(xs: readonly number[]): number {
  return xs.length ? Math.min(...xs) : NaN;
}

export function max(xs: readonly number[]): number {
  return xs.length ? Math.max(...xs) : NaN;
}

/** A number with fixed decimals, "n/a" for NaN or infinities. */
export function fmt(x: number, decimals = 1): string {
  return Number.isFinite(x) ? x.toFixed(decimals) : 'n/a';
}

/** An integer with thousands separators: 1234567 -> "1,234,567". */
export function count(x: number): string {
  return Number.isFinite(x) ? Math.round(x).toLocaleString('en-US') : 'n/a';
}

/** Events (or anything) per second in millions/thousands, e.g. "3.41 M/s". */
export function rate(perSec: number): string {
  if (!Number.isFinite(perSec)) return 'n/a';
  if (perSec >= 1e6) return `${(perSec / 1e6).toFixed(2)} M/s`;
  if (perSec >= 1e3) return `${(perSec / 1e3).toFixed(1)} k/s`;
  return `${perSec.toFixed(0)} /s`;
}

export function yesNo(ok: boolean): string {
  return ok ? 'yes' : 'NO';
}

/** A text table; the first column is left-aligned, the others right-aligned. */
export function table(headers: readonly string[], rows: readonly (readonly string[])[], indent = '  '): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: readonly string[]): string =>
    indent +
    cells
      .map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0)))
      .join('  ')
      .trimEnd();
  const rule = indent + widths.map((w) => '-'.repeat(w)).join('  ');
  return [line(headers), rule, ...rows.map(line)].join('\n');
}

/** Lost counters as "reason=n, ..." or "none". */
export function lostText(lost: Record<string, number>): string {
  const parts = Object.entries(lost)
    .filter(([, n]) => n > 0)
    .map(([k, n]) => `${k}=${count(n)}`);
  return parts.length ? parts.join(', ') : 'none';
}

export function totalLost(lost: Record<string, number>): number {
  return Object.values(lost).reduce((s, n) => s + n, 0);
}
