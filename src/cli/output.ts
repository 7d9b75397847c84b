/** Output helpers shared by commands: JSON on stdout, aligned text tables, number formatting. */

export function printJson(value: unknown): void {
  process.stdout.write(JSON.stringify(value, (_k, v) => (typeof v === 'bigint' ? `0x${v.toString(16)}` : v), 2) + '\n');
}

/** 0x-prefixed lowercase hex of a number or bigint; undefined stays undefined. */
export function hex(v: number | bigint): string;
export function hex(v: number | bigint | undefined): string | undefined;
export function hex(v: number | bigint | undefined): string | undefined {
  return v === undefined ? undefined : `0x${v.toString(16)}`;
}

export function mib(bytes: number): string {
  return `${(bytes / (1 << 20)).toFixed(1)} MiB`;
}

export function table(header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (c ?? '').padEnd(widths[i])).join('  ').trimEnd() + '\n';
  process.stdout.write(line(header));
  process.stdout.write(line(widths.map((w) => '-'.repeat(w))));
  for (const r of rows) process.stdout.write(line(r));
}
