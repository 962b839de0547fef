/**
 * A private dbus-daemon playing the system bus, so the emulator can own org.bluez without
 * root and without touching the host's Bluetooth. The policy is the permissive one from
 * docs/simulator.md: a stricter one makes every reply fail with "Rejected receive message".
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';

export interface PrivateBusOptions {
  /** dbus-daemon binary; `dbus-daemon` on PATH by default. */
  daemon?: string;
  /** How long to wait for the daemon to print its address. */
  startTimeoutMs?: number;
}

/**
 * The daemon runs under a small shell guardian whose stdin is a pipe from this process: when
 * this process ends, however it ends (even SIGKILL), the pipe closes and the guardian stops the
 * daemon and removes its directory. If the daemon dies first, the guardian exits with it.
 */
const GUARDIAN = `daemon=$1; conf=$2; dir=$3
exec 3<&0
"$daemon" --config-file "$conf" --nofork --print-address=1 </dev/null &
d=$!
(read -r _ <&3; kill -TERM "$d" 2>/dev/null) &
r=$!
wait "$d"; code=$?
kill "$r" 2>/dev/null
rm -rf "$dir"
exit $code`;

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

/** On a normal exit, close the guardians' pipes at once rather than when the fds are reaped. */
function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) child.stdin?.destroy();
  });
}

export class PrivateBus {
  private constructor(
    readonly address: string,
    readonly dir: string,
    private readonly child: ChildProcess,
  ) {}

  static async start(options: PrivateBusOptions = {}): Promise<PrivateBus> {
    const dir = mkdtempSync(path.join(tmpdir(), 'igrs-sim-bus-'));
    const socket = path.join(dir, 'bus.sock');
    const config = path.join(dir, 'bus.conf');
    writeFileSync(
      config,
      `<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig><type>system</type><listen>unix:path=${socket}</listen><auth>EXTERNAL</auth>
 <policy context="default"><allow user="*"/><allow own="*"/>
  <allow send_destination="*" eavesdrop="true"/><allow eavesdrop="true"/></policy></busconfig>
`,
    );
    installExitHook();
    const child = spawn('sh', ['-c', GUARDIAN, 'igrs-sim-bus', options.daemon ?? 'dbus-daemon', config, dir], {
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    live.add(child);
    child.once('exit', () => live.delete(child));
    try {
      const address = await new Promise<string>((resolve, reject) => {
        let out = '';
        let err = '';
        const timer = setTimeout(() => {
          reject(new Error(`dbus-daemon printed no address within ${options.startTimeoutMs ?? 5000} ms: ${err}`));
        }, options.startTimeoutMs ?? 5000);
        child.stdout.on('data', (chunk: Buffer) => {
          out += chunk.toString();
          const nl = out.indexOf('\n');
          if (nl >= 0) {
            clearTimeout(timer);
            resolve(out.slice(0, nl).trim());
          }
        });
        child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
        child.once('error', (e) => {
          clearTimeout(timer);
          reject(e);
        });
        child.once('exit', (code) => {
          clearTimeout(timer);
          reject(new Error(`dbus-daemon exited with ${code}: ${err}`));
        });
      });
      return new PrivateBus(address, dir, child);
    } catch (err) {
      child.stdin.end();
      rmSync(dir, { recursive: true, force: true });
      throw err;
    }
  }

  /** Stops the daemon and removes its socket and config. Safe to call twice. */
  async stop(): Promise<void> {
    if (this.child.exitCode === null && this.child.signalCode === null) {
      const exited = new Promise<void>((resolve) => this.child.once('exit', () => { resolve(); }));
      this.child.stdin?.end();
      const timer = setTimeout(() => this.child.kill('SIGKILL'), 2000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(this.dir, { recursive: true, force: true });
  }
}
