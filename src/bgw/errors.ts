/** Every way a BGW operation can fail, so that HomeKit and logs can say which. */
export type BgwErrorCode =
  /** A step did not finish in time (connect, GATT, notification, RAS). */
  | 'timeout'
  /** The adapter cannot see the lock (out of range, powered off, no such device). */
  | 'unreachable'
  /** BlueZ is busy with this device (InProgress) after one retry. */
  | 'busy'
  /** The lock dropped the connection mid-operation. */
  | 'disconnected'
  /** A frame from the lock failed to decrypt, CHECK or parse, or came out of order. */
  | 'protocol'
  /** The lock answered with a result other than ok (its result byte is in `result`). */
  | 'refused'
  /** The RAS refused or could not be reached; its status is in `status`. */
  | 'ras'
  /** D-Bus or BlueZ itself failed. */
  | 'bus'
  /** The gateway is shutting down. */
  | 'closed';

export class BgwError extends Error {
  override readonly name = 'BgwError';
  constructor(
    readonly code: BgwErrorCode,
    message: string,
    readonly details: { result?: number; status?: number; cause?: unknown } = {},
  ) {
    super(message);
  }
}

export function isBgwError(err: unknown, code?: BgwErrorCode): err is BgwError {
  return err instanceof BgwError && (code === undefined || err.code === code);
}

/** Races a promise against a timer; the loser is ignored, never left to reject unhandled. */
export async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => {
      reject(new BgwError('timeout', `${what} timed out after ${ms} ms`));
    }, ms);
  });
  promise.catch(() => undefined);
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}
