import { Status, statusMessage, type Status as StatusCode } from '../protocol/clause7/index.js';

/**
 * A RAS call that did not succeed. `status` is Table 1's code when the RAS answered; network
 * failures, timeouts and answers that do not match the schemas have their own kinds.
 */
export type RasErrorKind = 'status' | 'network' | 'timeout' | 'malformed' | 'signed-out';

export class RasError extends Error {
  override readonly name = 'RasError';
  constructor(
    readonly kind: RasErrorKind,
    message: string,
    readonly details: { status?: StatusCode; httpStatus?: number; field?: string; result?: number; retryAfter?: number } = {},
  ) {
    super(message);
  }

  get status(): StatusCode | undefined {
    return this.details.status;
  }

  /** Whether the RAS could not be reached or answered 5xx: an outage, not a refusal. */
  get isOutage(): boolean {
    return this.kind === 'network' || this.kind === 'timeout' || this.kind === 'malformed' || this.status === Status.ServerError || this.status === Status.Unavailable;
  }
}

export function describeStatus(status: StatusCode): string {
  return `${status} ${statusMessage(status)}`;
}
