/**
 * The statuses of Table 1 as one error type: the service layer throws them, the HTTP layer maps
 * them to the envelope and the HTTP status, so a rule and its status are written once.
 */
export type RasStatus = 400 | 401 | 403 | 404 | 409 | 420 | 421 | 422 | 423 | 424 | 425 | 426 | 427 | 428 | 429 | 430 | 431 | 500 | 503;

export class RasError extends Error {
  override readonly name = 'RasError';
  constructor(
    readonly status: RasStatus,
    message: string,
    /** A response body that goes with the status (431 carries the lock's result code). */
    readonly body?: Record<string, unknown>,
    /** Seconds, for 429. */
    readonly retryAfter?: number,
  ) {
    super(message);
  }
}

export const badRequest = (m: string): RasError => new RasError(400, m);
export const notFound = (m: string): RasError => new RasError(404, m);
export const forbidden = (m: string): RasError => new RasError(403, m);
export const conflict = (m: string): RasError => new RasError(409, m);
