/** @igrs-smartlock/sim: the BSLD simulator, its BlueZ emulator and the lock core. */
export * from './lock/index.js';
export * from './simulator.js';
export * from './testing.js';
export { PrivateBus, type PrivateBusOptions } from './bus.js';
export { BluezEmulator, DEFAULT_ADAPTERS, type AdapterSpec, type BluezEmulatorOptions } from './bluez/emulator.js';
export type { EmulatedLock } from './bluez/device.js';
export { COMMAND_HELP, runCommand, serveControl, sendControl, defaultControlPath } from './control.js';
export { parseLocks, readLocks, factoryList, writeFactoryList, type FactoryEntry } from './locks-file.js';
export { BluetoothdLock, type BluetoothdLockOptions, type BluetoothdFaults, type Layout } from './bluetoothd/peripheral.js';
