/**
 * An SVG of latency distributions as empirical CDFs on a log time axis (warm and cold differ by
 * an order of magnitude, so a linear axis would flatten one of them). Plain strings, no deps.
 */

export interface Series {
  label: string;
  samples: readonly number[];
  color: string;
  dashed?: boolean;
}

const W = 760;
const H = 440;
const M = { left: 60, right: 20, top: 30, bottom: 120 };

function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
}

export function cdfChart(title: string, series: readonly Series[]): string {
  const all = series.flatMap((s) => s.samples).filter((v) => v > 0);
  const lo = 10 ** Math.floor(Math.log10(Math.max(0.1, Math.min(...all, 1))));
  const hi = 10 ** Math.ceil(Math.log10(Math.max(...all, 10)));
  const pw = W - M.left - M.right;
  const ph = H - M.top - M.bottom;
  const x = (v: number) => M.left + ((Math.log10(Math.max(v, lo)) - Math.log10(lo)) / (Math.log10(hi) - Math.log10(lo))) * pw;
  const y = (f: number) => M.top + (1 - f) * ph;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" font-family="sans-serif" font-size="12">`,
    `<rect width="${W}" height="${H}" fill="white"/>`,
    `<text x="${W / 2}" y="18" text-anchor="middle" font-size="14">${esc(title)}</text>`,
  ];
  for (let d = lo; d <= hi; d *= 10) {
    for (const m of [1, 2, 5]) {
      const v = d * m;
      if (v > hi) break;
      parts.push(`<line x1="${x(v).toFixed(1)}" y1="${M.top}" x2="${x(v).toFixed(1)}" y2="${M.top + ph}" stroke="#ddd"/>`);
      parts.push(`<text x="${x(v).toFixed(1)}" y="${M.top + ph + 16}" text-anchor="middle">${v >= 1 ? v : v.toFixed(1)}</text>`);
    }
  }
  for (const f of [0, 0.25, 0.5, 0.75, 0.99, 1]) {
    parts.push(`<line x1="${M.left}" y1="${y(f).toFixed(1)}" x2="${M.left + pw}" y2="${y(f).toFixed(1)}" stroke="#eee"/>`);
    parts.push(`<text x="${M.left - 6}" y="${(y(f) + 4).toFixed(1)}" text-anchor="end">${f === 0.99 ? 'p99' : `${f * 100}%`}</text>`);
  }
  parts.push(`<text x="${M.left + pw / 2}" y="${M.top + ph + 34}" text-anchor="middle">latency, ms (log scale): HomeKit write → LockCurrentState read back</text>`);
  parts.push(`<rect x="${M.left}" y="${M.top}" width="${pw}" height="${ph}" fill="none" stroke="#333"/>`);
  series.forEach((s, i) => {
    const sorted = [...s.samples].sort((a, b) => a - b);
    if (sorted.length === 0) return;
    let d = `M${x(sorted[0]!).toFixed(1)},${y(0).toFixed(1)}`;
    sorted.forEach((v, k) => {
      d += ` L${x(v).toFixed(1)},${y(k / sorted.length).toFixed(1)} L${x(v).toFixed(1)},${y((k + 1) / sorted.length).toFixed(1)}`;
    });
    parts.push(`<path d="${d}" fill="none" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    const lx = M.left + (i % 2) * (pw / 2);
    const ly = M.top + ph + 52 + Math.floor(i / 2) * 16;
    parts.push(`<line x1="${lx}" y1="${ly - 4}" x2="${lx + 24}" y2="${ly - 4}" stroke="${s.color}" stroke-width="2"${s.dashed ? ' stroke-dasharray="5,3"' : ''}/>`);
    parts.push(`<text x="${lx + 30}" y="${ly}">${esc(`${s.label} (n=${sorted.length})`)}</text>`);
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
