/**
 * The Chrome DevTools protocol of a child started with `--inspect=0`: forced GC, memory figures,
 * heap snapshots and CPU profiles of the Homebridge process without a line of code in the plugin.
 */
import WebSocket from 'ws';

interface Pending {
  resolve(result: Record<string, unknown>): void;
  reject(err: Error): void;
}

export interface MemoryFigures {
  rssMiB: number;
  heapUsedMiB: number;
  heapTotalMiB: number;
  externalMiB: number;
  arrayBuffersMiB: number;
}

/** Live objects of one heap snapshot, by node type and constructor name. */
export type HeapCensus = Map<string, { count: number; bytes: number }>;

export interface CpuProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
export interface CpuProfile {
  nodes: CpuProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

export class Inspector {
  private seq = 0;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Map<string, (params: Record<string, unknown>) => void>();

  private constructor(private readonly ws: WebSocket) {
    ws.on('message', (data: Buffer) => {
      const msg = JSON.parse(data.toString('utf8')) as { id?: number; result?: Record<string, unknown>; error?: { message: string }; method?: string; params?: Record<string, unknown> };
      if (msg.id !== undefined) {
        const p = this.pending.get(msg.id);
        this.pending.delete(msg.id);
        if (msg.error) p?.reject(new Error(msg.error.message));
        else p?.resolve(msg.result ?? {});
      } else if (msg.method) {
        this.listeners.get(msg.method)?.(msg.params ?? {});
      }
    });
    ws.on('close', () => {
      for (const p of this.pending.values()) p.reject(new Error('the inspector connection closed'));
      this.pending.clear();
    });
  }

  /** The URL from the child's "Debugger listening on ws://…" line. */
  static urlIn(lines: readonly string[]): string | undefined {
    for (const l of lines) {
      const m = /Debugger listening on (ws:\/\/\S+)/.exec(l);
      if (m) return m[1];
    }
    return undefined;
  }

  static async connect(url: string): Promise<Inspector> {
    const ws = new WebSocket(url, { perMessageDeflate: false, maxPayload: 2 ** 31 });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => { resolve(); });
      ws.once('error', reject);
    });
    ws.on('error', () => undefined);
    return new Inspector(ws);
  }

  send(method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> {
    const id = ++this.seq;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.ws.send(JSON.stringify({ id, method, params }));
    });
  }

  /** A full, compacting GC (V8's own "collect garbage" button), then process.memoryUsage(). */
  async memoryAfterGc(): Promise<MemoryFigures> {
    // Twice: the first pass can leave objects that only weak callbacks or finalizers free.
    await this.send('HeapProfiler.collectGarbage');
    await this.send('HeapProfiler.collectGarbage');
    return this.memory();
  }

  async memory(): Promise<MemoryFigures> {
    const { result } = (await this.send('Runtime.evaluate', { expression: 'JSON.stringify(process.memoryUsage())', returnByValue: true })) as { result: { value: string } };
    const m = JSON.parse(result.value) as Record<string, number>;
    const mib = (v: number | undefined) => (v ?? Number.NaN) / 2 ** 20;
    return { rssMiB: mib(m.rss), heapUsedMiB: mib(m.heapUsed), heapTotalMiB: mib(m.heapTotal), externalMiB: mib(m.external), arrayBuffersMiB: mib(m.arrayBuffers) };
  }

  /** A heap snapshot (taken after a GC, as V8 always does), reduced to a census by constructor. */
  async heapCensus(): Promise<HeapCensus> {
    const chunks: string[] = [];
    this.listeners.set('HeapProfiler.addHeapSnapshotChunk', (p) => chunks.push(p.chunk as string));
    try {
      await this.send('HeapProfiler.takeHeapSnapshot', { reportProgress: false, captureNumericValue: false });
    } finally {
      this.listeners.delete('HeapProfiler.addHeapSnapshotChunk');
    }
    return census(JSON.parse(chunks.join('')) as RawSnapshot);
  }

  async startCpuProfile(samplingIntervalUs = 100): Promise<void> {
    await this.send('Profiler.enable');
    await this.send('Profiler.setSamplingInterval', { interval: samplingIntervalUs });
    await this.send('Profiler.start');
  }

  async stopCpuProfile(): Promise<CpuProfile> {
    const { profile } = (await this.send('Profiler.stop')) as { profile: CpuProfile };
    await this.send('Profiler.disable');
    return profile;
  }

  close(): void {
    this.ws.close();
  }
}

interface RawSnapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function census(snap: RawSnapshot): HeapCensus {
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const iType = fields.indexOf('type');
  const iName = fields.indexOf('name');
  const iSize = fields.indexOf('self_size');
  const out: HeapCensus = new Map();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + iType]!] ?? '?';
    // Strings are named by their content: group them by type only.
    const name = type === 'object' || type === 'closure' || type === 'native' || type === 'code' ? snap.strings[snap.nodes[i + iName]!]! : '';
    const key = `${type}:${name.length > 80 ? `${name.slice(0, 77)}...` : name}`;
    const entry = out.get(key) ?? { count: 0, bytes: 0 };
    entry.count++;
    entry.bytes += snap.nodes[i + iSize]!;
    out.set(key, entry);
  }
  return out;
}

/** What grew between two censuses, largest count growth first. */
export function censusGrowth(before: HeapCensus, after: HeapCensus, top = 25): { key: string; count: number; bytes: number; countAfter: number }[] {
  const keys = new Set([...before.keys(), ...after.keys()]);
  const rows = [...keys].map((key) => {
    const a = after.get(key) ?? { count: 0, bytes: 0 };
    const b = before.get(key) ?? { count: 0, bytes: 0 };
    return { key, count: a.count - b.count, bytes: a.bytes - b.bytes, countAfter: a.count };
  });
  return rows.sort((x, y) => y.count - x.count).slice(0, top);
}

export function censusTotal(c: HeapCensus): { count: number; bytes: number } {
  let count = 0;
  let bytes = 0;
  for (const v of c.values()) {
    count += v.count;
    bytes += v.bytes;
  }
  return { count, bytes };
}
