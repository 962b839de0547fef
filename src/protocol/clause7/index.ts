/** Clause 7, RAC ↔ RAS over HTTPS (JSON), and Table 2 push: schemas, Table 1, validation. */
export * from './envelope.js';
export * from './fields.js';
export * from './messages.js';
export * from './push.js';
export * from './status.js';
export * from './validate.js';
