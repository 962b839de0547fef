/**
 * The protocol module shared by the plugin, the reference RAS and the BSLD simulator:
 * Clause 8 frames, keys, channels and adverts, and the Clause 7 schemas. Pure: no I/O.
 */
export * from './bytes.js';
export * from './frame.js';
export * from './tables.js';
export * from './keys.js';
export * from './channel.js';
export * from './advert.js';
export * from './gatt.js';
export * from './clause7/index.js';
