/** What every part of the service layer shares. */
import type { Clock } from '../clock.js';
import { unixSeconds } from '../clock.js';
import type { RateLimits } from '../config.js';
import type { RateLimiter } from '../ratelimit.js';
import type { Storage } from '../storage/storage.js';
import type { CodeSender } from '../tpsp.js';

/** The subset of pino's logger the RAS uses; any pino-compatible logger fits. */
export interface Logger {
  info(obj: object, msg?: string): void;
  warn(obj: object, msg?: string): void;
  error(obj: object, msg?: string): void;
  debug(obj: object, msg?: string): void;
}

export const silentLogger: Logger = { info() {}, warn() {}, error() {}, debug() {} };

export interface Context {
  storage: Storage;
  clock: Clock;
  masterKey: Buffer;
  logger: Logger;
  limiter: RateLimiter;
  limits: RateLimits;
  sender: CodeSender;
}

export const nowOf = (ctx: Context): number => unixSeconds(ctx.clock);
