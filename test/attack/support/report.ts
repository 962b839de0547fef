/**
 * The attack and fault suite's figures. Every test records what it tried and what got through;
 * the root hook prints one table at the end and writes test-artifacts/attack-report.json, so the
 * numbers in docs/security.md can be regenerated rather than trusted.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';

/** `ATTACK_FULL=1` (npm run test:attack:full) runs the full counts; CI runs the small ones. */
export const FULL = process.env.ATTACK_FULL === '1';

export function count(ci: number, full: number): number {
  return FULL ? full : ci;
}

export interface Figure {
  name: string;
  attempts: number;
  accepted: number;
  recoveredMs?: number;
  note?: string;
}

// On globalThis: mocha may load this module once through its root-hook require and again through
// a test file's import (tsx gives CJS and ESM their own instances), and both must share one list.
const store = globalThis as typeof globalThis & { igrsAttackFigures?: Figure[] };
const figures: Figure[] = (store.igrsAttackFigures ??= []);

export function record(figure: Figure): Figure {
  figures.push(figure);
  return figure;
}

/** A figure filled in as the attempts go, so a failing test still reports how far it got. */
export function tally(name: string, note?: string): Figure {
  return record({ name, attempts: 0, accepted: 0, ...(note ? { note } : {}) });
}

function table(): string {
  const rows = figures.map((f) => [f.name, String(f.attempts), String(f.accepted), f.recoveredMs === undefined ? '' : String(Math.round(f.recoveredMs)), f.note ?? '']);
  const head = ['figure', 'attempts', 'accepted', 'recovered-in-ms', 'note'];
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i]!.length)));
  const line = (cells: string[]): string => cells.map((c, i) => (i === 1 || i === 2 || i === 3 ? c.padStart(widths[i]!) : c.padEnd(widths[i]!))).join(' | ').trimEnd();
  return [line(head), widths.map((w) => '-'.repeat(w)).join('-|-'), ...rows.map(line)].join('\n');
}

export const mochaHooks = {
  afterAll(): void {
    const mode = FULL ? 'full' : 'ci';
    process.stdout.write(`\nAttack and fault report (${mode} counts)\n${table()}\n`);
    const dir = path.resolve('test-artifacts');
    mkdirSync(dir, { recursive: true });
    writeFileSync(path.join(dir, 'attack-report.json'), JSON.stringify({ mode, generatedAt: new Date().toISOString(), figures }, null, 2) + '\n');
  },
};
