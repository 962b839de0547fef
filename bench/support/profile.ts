/**
 * Self time of a V8 CPU profile by owner: the plugin, each library, Node itself, the GC. A frame
 * without a script (a V8 builtin such as JSON.parse) is charged to the script that called it,
 * so "plugin" means everything the plugin's own functions ran.
 */
import type { CpuProfile, CpuProfileNode } from './inspector.js';

/** Owner of a script URL: `plugin` for this repository's dist/, else the package or `node`. */
export function ownerOf(url: string, root: string): string | undefined {
  if (!url) return undefined;
  if (url.startsWith('node:') || !url.includes('/')) return 'node';
  const pathname = url.startsWith('file://') ? decodeURIComponent(new URL(url).pathname) : url;
  const nm = pathname.lastIndexOf('/node_modules/');
  if (nm >= 0) {
    const parts = pathname.slice(nm + '/node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (pathname.startsWith(`${root}/dist/`) || pathname.startsWith(`${root}/src/`)) return 'plugin';
  return pathname;
}

/**
 * Self milliseconds by owner; `(idle)`, `(program)` and `(garbage collector)` stay apart. With
 * `windows` (sorted [start, end] pairs in microseconds of CLOCK_MONOTONIC, the clock of both
 * V8's profile timestamps and process.hrtime), only samples inside them count.
 */
export function selfTimeByOwner(profile: CpuProfile, root: string, windows?: readonly (readonly [number, number])[]): Map<string, number> {
  const byId = new Map<number, CpuProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const owners = new Map<number, string>();
  const ownerOfNode = (id: number): string => {
    const known = owners.get(id);
    if (known) return known;
    const node = byId.get(id)!;
    const name = node.callFrame.functionName;
    let owner: string;
    if (name === '(idle)' || name === '(program)' || name === '(garbage collector)' || name === '(root)') owner = name;
    else {
      const own = ownerOf(node.callFrame.url, root);
      const up = parent.get(id);
      owner = own ?? (up !== undefined ? ownerOfNode(up) : '(native)');
      if (owner === '(root)') owner = '(native)';
    }
    owners.set(id, owner);
    return owner;
  };
  const out = new Map<string, number>();
  const inside = insideWindows(profile, windows);
  for (let i = 0; i < profile.samples.length; i++) {
    if (!inside[i]) continue;
    const owner = ownerOfNode(profile.samples[i]!);
    out.set(owner, (out.get(owner) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return out;
}

/** The plugin's own functions by self time, heaviest first (what to look at if it is large). */
export function pluginHotspots(profile: CpuProfile, root: string, top = 10, windows?: readonly (readonly [number, number])[]): { fn: string; ms: number }[] {
  const byId = new Map<number, CpuProfileNode>(profile.nodes.map((n) => [n.id, n]));
  const out = new Map<string, number>();
  const inside = insideWindows(profile, windows);
  for (let i = 0; i < profile.samples.length; i++) {
    if (!inside[i]) continue;
    const node = byId.get(profile.samples[i]!)!;
    if (ownerOf(node.callFrame.url, root) !== 'plugin') continue;
    const key = `${node.callFrame.functionName || '(anonymous)'} ${node.callFrame.url.replace(/^.*\/dist\//, '')}:${node.callFrame.lineNumber + 1}`;
    out.set(key, (out.get(key) ?? 0) + (profile.timeDeltas[i] ?? 0) / 1000);
  }
  return [...out.entries()].map(([fn, ms]) => ({ fn, ms })).sort((a, b) => b.ms - a.ms).slice(0, top);
}

/** For each sample, whether its timestamp falls inside one of the windows (all, without). */
function insideWindows(profile: CpuProfile, windows?: readonly (readonly [number, number])[]): boolean[] {
  const out: boolean[] = [];
  let at = profile.startTime;
  let w = 0;
  for (let i = 0; i < profile.samples.length; i++) {
    at += profile.timeDeltas[i] ?? 0;
    if (!windows) {
      out.push(true);
      continue;
    }
    while (w < windows.length && windows[w]![1] < at) w++;
    out.push(w < windows.length && at >= windows[w]![0]);
  }
  return out;
}
