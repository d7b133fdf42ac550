/** Plain-text tables for stdout and CSV for files: columns with a header, a cell formatter each. */

export interface Column<T> {
  header: string;
  cell(row: T): string;
  /** Right-align (numbers). Default: left. */
  right?: boolean;
}

export function formatTable<T>(rows: T[], columns: Column<T>[]): string {
  const cells = rows.map((r) => columns.map((c) => c.cell(r)));
  const widths = columns.map((c, i) => Math.max(c.header.length, ...cells.map((row) => row[i].length)));
  const line = (values: string[]) =>
    values
      .map((v, i) => (columns[i].right ? v.padStart(widths[i]) : v.padEnd(widths[i])))
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...cells.map(line)].join('\n') + '\n';
}

const CSV_SPECIAL = /[",\n\r]/;

export function toCsv(header: string[], rows: Array<Array<string | number>>): string {
  const field = (v: string | number) => {
    const s = String(v);
    return CSV_SPECIAL.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
  };
  return [header, ...rows].map((r) => r.map(field).join(',')).join('\n') + '\n';
}

/** 12345.6 -> "12,346"; NaN/null -> "-". */
export const int = (x: number | null | undefined): string => (x == null || !Number.isFinite(x) ? '-' : Math.round(x).toLocaleString('en-US'));

/** Fixed decimals, or "-" when there is no value. */
export const fixed = (x: number | null | undefined, digits: number): string => (x == null || !Number.isFinite(x) ? '-' : x.toFixed(digits));

/** Rounds for JSON output (keeps files readable; the measurement noise is far above 1e-3 ms). */
export const round = (x: number, digits: number): number => Number(x.toFixed(digits));
