/**
 * The reference RAS as an operator runs it: the CLI's `serve` as a child process on a SQLite
 * file, for fault tests that SIGKILL it and start it again on the same file (and, when the plugin
 * must find it again, on the same port).
 */
import { randomBytes } from 'node:crypto';
import path from 'node:path';
import Database from 'better-sqlite3';
import { cli, serve, type CliResult, type ServeChild } from '../../../ras/test/support/child.js';

export class KillableRas {
  readonly db: string;
  readonly env: NodeJS.ProcessEnv;
  /** Every line every run logged, the killed runs' included. */
  readonly logs: string[] = [];
  child: ServeChild | undefined;

  constructor(
    dir: string,
    private readonly options: { adminToken: string; port?: number; logLevel?: string },
  ) {
    this.db = path.join(dir, 'ras.sqlite');
    this.env = { RAS_MASTER_KEY: randomBytes(32).toString('hex'), RAS_ADMIN_TOKEN: options.adminToken };
  }

  /** An operator's CLI command (provision, users add) with this RAS's keys. */
  cli(args: string[]): CliResult {
    return cli(args, this.env);
  }

  /** The running child, or a new one once it logs that it listens. */
  async start(): Promise<ServeChild> {
    if (this.child) return this.child;
    const port = this.options.port === undefined ? [] : ['--port', String(this.options.port)];
    this.child = await serve(['--db', this.db, '--log-level', this.options.logLevel ?? 'trace', ...port], this.env);
    return this.child;
  }

  /** SIGKILL: no shutdown hook runs, whatever was in flight is cut where it was. */
  async kill(): Promise<void> {
    await this.end('SIGKILL');
  }

  async stop(): Promise<void> {
    await this.end('SIGTERM');
  }

  /** `PRAGMA integrity_check` of the file alone (call once the RAS is down). */
  integrity(): unknown {
    const sq = new Database(this.db);
    try {
      sq.pragma('wal_checkpoint(TRUNCATE)');
      return sq.pragma('integrity_check', { simple: true });
    } finally {
      sq.close();
    }
  }

  private async end(signal: NodeJS.Signals): Promise<void> {
    const c = this.child;
    if (!c) return;
    this.child = undefined;
    c.child.kill(signal);
    await c.exited;
    this.logs.push(...c.logs);
  }
}
