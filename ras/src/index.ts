/**
 * @igrs-smartlock/ras: the reference remote access server of ISO/IEC 14543-5-104 (the project's
 * profile). Start one in-process with `startRas`, or run `npm run ras -- serve`.
 */
export {
  startRas,
  provisionDevices,
  addUser,
  CLI_PATH,
  openRasStorage,
  createServices,
  provisionAll,
  DEFAULT_HOST, DEFAULT_PORT, DEFAULT_DB_PATH, type RasOptions, type RasHandle } from './server.js';
export { RasServices } from './services.js';
export { RasError, type RasStatus } from './errors.js';
export { systemClock, type Clock } from './clock.js';
export { DEFAULT_RATE_LIMITS, Durations, type RateLimits, type RateLimit } from './config.js';
export { factoryEntryProblem, type FactoryEntry, type ProvisionOutcome } from './service/ddms.js';
export type { Logger } from './service/context.js';
export { SqliteStorage } from './storage/sqlite.js';
export type { Storage } from './storage/storage.js';
export { CallbackSender, LogSender, SmtpSender, WebhookSender, senderFromEnv, type CodeSender, type VerificationMessage } from './tpsp.js';
