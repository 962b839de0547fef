/** The lock core as a library: pure state machine and timers, no D-Bus, for any front end. */
export * from './clock.js';
export * from './store.js';
export * from './lock.js';
