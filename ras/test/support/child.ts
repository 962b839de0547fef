/** The RAS CLI as a child process, the way an operator or the plugin's end-to-end tests run it. */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const CLI = path.resolve(here, '../../src/cli.ts');
const TSX = import.meta.resolve('tsx');
const NODE_ARGS = ['--conditions=igrs-source', '--import', TSX, CLI];

export interface CliResult {
  status: number | null;
  stdout: string;
  stderr: string;
}

export function cli(args: string[], env: NodeJS.ProcessEnv = {}): CliResult {
  const r = spawnSync(process.execPath, [...NODE_ARGS, ...args], { env: { ...process.env, ...env }, encoding: 'utf8', timeout: 30_000 });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

export interface ServeChild {
  child: ChildProcess;
  url: string;
  logs: string[];
  exited: Promise<number | null>;
}

/** Starts `serve` and resolves once it logs its URL. */
export function serve(args: string[], env: NodeJS.ProcessEnv = {}): Promise<ServeChild> {
  const child = spawn(process.execPath, [...NODE_ARGS, 'serve', '--port', '0', ...args], { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  const logs: string[] = [];
  const exited = new Promise<number | null>((resolve) => {
    child.once('exit', (code) => {
      resolve(code);
    });
  });
  return new Promise((resolve, reject) => {
    let buffer = '';
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`serve did not start: ${logs.join('\n')}`));
    }, 20_000);
    const onLine = (line: string): void => {
      logs.push(line);
      try {
        const entry = JSON.parse(line) as { msg?: string; url?: string };
        if (entry.msg === 'RAS listening' && entry.url) {
          clearTimeout(timer);
          resolve({ child, url: entry.url, logs, exited });
        }
      } catch {
        // Not a JSON log line.
      }
    };
    child.stdout.setEncoding('utf8').on('data', (chunk: string) => {
      buffer += chunk;
      const lines = buffer.split('\n');
      buffer = lines.pop()!;
      lines.forEach(onLine);
    });
    child.stderr.setEncoding('utf8').on('data', (chunk: string) => logs.push(chunk));
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`serve exited with ${code}: ${logs.join('\n')}`));
    });
  });
}
