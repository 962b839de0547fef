/** Percentiles and the result rows the bench writes. */

export interface ResultRow {
  scenario: string;
  metric: string;
  value: number;
  unit: string;
  floor?: number;
  ratio?: number;
  target?: string;
  met?: boolean;
}

/** Nearest-rank percentile; NaN for no samples, so a missing figure is never a zero. */
export function percentile(samples: readonly number[], p: number): number {
  if (samples.length === 0) return Number.NaN;
  const sorted = [...samples].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank]!;
}

export function round(v: number, digits = 2): number {
  if (!Number.isFinite(v)) return v;
  const f = 10 ** digits;
  return Math.round(v * f) / f;
}

export function row(r: ResultRow): ResultRow {
  const out: ResultRow = { ...r, value: round(r.value) };
  if (r.floor !== undefined) {
    out.floor = round(r.floor);
    out.ratio = round(r.ratio ?? r.value / r.floor);
  }
  return out;
}

export function formatTable(rows: readonly ResultRow[]): string {
  const head = ['scenario', 'metric', 'value', 'unit', 'floor', 'ratio', 'target', 'met'];
  const body = rows.map((r) => [
    r.scenario,
    r.metric,
    String(r.value),
    r.unit,
    r.floor === undefined ? '' : String(r.floor),
    r.ratio === undefined ? '' : String(r.ratio),
    r.target ?? '',
    r.met === undefined ? '' : r.met ? 'yes' : 'NO',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i]!.length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd();
  return [line(head), line(widths.map((w) => '-'.repeat(w))), ...body.map(line)].join('\n');
}

/** The same table as Markdown, for docs/performance.md. */
export function markdownTable(rows: readonly ResultRow[]): string {
  const head = '| scenario | metric | value | unit | floor | ratio | target | met |\n|---|---|---:|---|---:|---:|---|---|';
  const body = rows.map(
    (r) =>
      `| ${r.scenario} | ${r.metric} | ${r.value} | ${r.unit} | ${r.floor ?? ''} | ${r.ratio ?? ''} | ${r.target ?? ''} | ${r.met === undefined ? '' : r.met ? 'yes' : '**no**'} |`,
  );
  return [head, ...body].join('\n');
}
