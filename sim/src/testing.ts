/**
 * The simulator for test suites (the plugin's end-to-end tests, benchmarks):
 *
 *   const sim = await startSimulator({ locks, latency: 'realistic' });
 *   process.env.DBUS_SYSTEM_BUS_ADDRESS = sim.busAddress; // before createBluetooth()
 *   sim.lock(deviceId).turn();
 *   await sim.stop();
 */
import { Simulator, type SimulatorOptions } from './simulator.js';

export { Simulator, SimulatedLock, type LockSpec, type SimulatorOptions } from './simulator.js';
export { LATENCY_PROFILES, LockFaults, parseDropStep, type ConnectFailure, type DropStep, type LatencyName, type LatencyProfile } from './bluez/faults.js';
export { ManualClock, systemClock, type Clock } from './lock/clock.js';
export type { LockSnapshot } from './lock/lock.js';

/** Starts a private bus, the BlueZ emulator and the locks; `stop()` ends all of it. */
export function startSimulator(options: SimulatorOptions): Promise<Simulator> {
  return Simulator.start(options);
}

/**
 * Mocha hooks: starts the simulator before the suite and stops it after, and points
 * DBUS_SYSTEM_BUS_ADDRESS at it for the suite's duration. Call inside `describe`.
 */
export function useSimulator(options: SimulatorOptions): { readonly sim: Simulator } {
  let sim: Simulator | undefined;
  let previous: string | undefined;
  before(async function () {
    this.timeout(20_000);
    sim = await startSimulator(options);
    previous = process.env.DBUS_SYSTEM_BUS_ADDRESS;
    process.env.DBUS_SYSTEM_BUS_ADDRESS = sim.busAddress;
  });
  after(async () => {
    if (previous === undefined) delete process.env.DBUS_SYSTEM_BUS_ADDRESS;
    else process.env.DBUS_SYSTEM_BUS_ADDRESS = previous;
    await sim?.stop();
  });
  return {
    get sim(): Simulator {
      if (!sim) throw new Error('the simulator starts in a before() hook');
      return sim;
    },
  };
}

/**
 * Waits until a node-ble Device's ServicesResolved is true. node-ble's gatt() reads the property
 * and only then subscribes to its change; bluetoothd (and so the emulator) resolves services just
 * after the Connect reply, so the change can fall between the two and gatt() waits forever. A
 * careful client of node-ble calls this between connect() and gatt().
 */
export async function servicesResolved(device: object, timeoutMs = 5000): Promise<void> {
  const props = (device as { helper: { prop(name: string): Promise<unknown> } }).helper;
  const deadline = Date.now() + timeoutMs;
  while ((await props.prop('ServicesResolved')) !== true) {
    if (Date.now() > deadline) throw new Error(`ServicesResolved did not become true within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 5));
  }
}
