/** The CLI as a developer runs it: ready line, stdin and socket commands, clean stop, factory list. */
import { strict as assert } from 'node:assert';
import { spawn, execFile, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import dbus from 'dbus-next';
import { sendControl } from '../src/control.js';

const simDir = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const NODE_ARGS = ['--conditions=igrs-source', '--import', 'tsx', 'src/cli.ts'];
const LOCKS = [
  { deviceId: 'A4C138F0E1D2', deviceKey: '000102030405060708090a0b0c0d0e0f', setupCode: '12345678', name: 'Front door', doorSensor: true },
  { deviceId: 'A4C138F0E1D3', deviceKey: '0f0e0d0c0b0a09080706050403020100', setupCode: '87654321', name: 'Back door', model: 'IGRS-B2' },
];

describe('CLI', function () {
  this.timeout(20_000);
  let dir: string;
  let child: ChildProcess | undefined;

  before(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'igrs-sim-cli-'));
    writeFileSync(path.join(dir, 'locks.json'), JSON.stringify(LOCKS));
  });
  after(() => {
    child?.kill('SIGKILL');
    rmSync(dir, { recursive: true, force: true });
  });

  it('writes the factory list for the RAS', async () => {
    const { stdout } = await promisify(execFile)(process.execPath, [...NODE_ARGS, 'factory', '--locks', path.join(dir, 'locks.json')], { cwd: simDir });
    assert.deepEqual(JSON.parse(stdout), [
      { deviceId: 'A4C138F0E1D2', deviceKey: '000102030405060708090a0b0c0d0e0f', setupCode: '12345678', model: 'IGRS-SIM-1' },
      { deviceId: 'A4C138F0E1D3', deviceKey: '0f0e0d0c0b0a09080706050403020100', setupCode: '87654321', model: 'IGRS-B2' },
    ]);
  });

  it('runs, announces the bus, takes commands from stdin and the socket, and stops cleanly', async () => {
    const control = path.join(dir, 'ctl.sock');
    const proc = spawn(
      process.execPath,
      [...NODE_ARGS, '--locks', path.join(dir, 'locks.json'), '--state-dir', path.join(dir, 'state'), '--control', control, '--quiet'],
      { cwd: simDir, stdio: ['pipe', 'pipe', 'pipe'] },
    );
    child = proc;
    const lines: string[] = [];
    let buf = '';
    proc.stdout.on('data', (c: Buffer) => {
      buf += c.toString();
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    const waitLine = async (re: RegExp): Promise<string> => {
      for (let i = 0; i < 200; i++) {
        const hit = lines.find((l) => re.test(l));
        if (hit) return hit;
        await new Promise((r) => setTimeout(r, 50));
      }
      throw new Error(`no line ${re}; got ${lines.join(' | ')}`);
    };
    const ready = await waitLine(/^DBUS_SYSTEM_BUS_ADDRESS=/);
    const address = ready.slice('DBUS_SYSTEM_BUS_ADDRESS='.length);

    const bus = dbus.sessionBus({ busAddress: address });
    bus.on('error', () => undefined);
    const root = await bus.getProxyObject('org.bluez', '/org/bluez');
    assert.ok(root.nodes.includes('/org/bluez/hci0'));
    bus.disconnect();

    const answer = await sendControl(control, 'turn Front door unlock');
    assert.match(answer, /A4C138F0E1D2 "Front door": unsecured/);
    assert.match(await sendControl(control, 'nonsense'), /^error: unknown command/);

    proc.stdin.write('status Back door\n');
    await waitLine(/A4C138F0E1D3 "Back door": secured/);

    const exited = new Promise<number | null>((r) => proc.once('exit', (code) => { r(code); }));
    proc.kill('SIGTERM');
    assert.equal(await exited, 0);
    child = undefined;
    const socketPath = /unix:path=([^,]+)/.exec(address)![1]!;
    assert.equal(existsSync(socketPath), false, 'the private bus is gone');
    assert.equal(existsSync(control), false, 'the control socket is gone');
    const saved = JSON.parse(readFileSync(path.join(dir, 'state', 'A4C138F0E1D2.json'), 'utf8')) as { lockState: number; bootId: number };
    assert.deepEqual([saved.lockState, saved.bootId], [0, 1]);
  });
});
