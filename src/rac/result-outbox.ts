/**
 * OperationResult reports the RAS could not take (down, slow, 5xx), kept and sent again until it
 * answers. The lock ran the pushed command by then: without this, the RAS would record the
 * operation as expired and the RAC that asked would be told the door did not move when it did.
 * The RAS takes a late report and records the operation as executed late (profile, Clause 7).
 */
import { Subject } from 'rxjs';
import type { Logger } from '../logger.js';
import type { ResponseBody } from './client.js';
import { RasError } from './errors.js';

export type OperationReport = { challenge: Buffer; frames: Buffer[] } | { expired: true };

/** The RAS's answer, or `queued` when it could not be reached and the report will be sent again. */
export type OutboxAnswer = ResponseBody<'OperationResult'> & { queued?: true };

export interface ResultSender {
  operationResult(operationId: number, report: OperationReport): Promise<ResponseBody<'OperationResult'>>;
}

interface Held {
  deviceId: string;
  report: { challenge: Buffer; frames: Buffer[] };
  since: number;
}

/** Bounded: a RAS that never returns must not grow memory without end; the oldest go first. */
const MAX_HELD = 64;
/** Past this the RAS has long closed the operation's book; the report is dropped. */
const MAX_AGE_MS = 24 * 3600_000;
const MAX_RETRY_MS = 60_000;

export class ResultOutbox {
  /** Reports the RAS took after all, with its verdict (a refused one is only logged). */
  readonly delivered$ = new Subject<{ deviceId: string; operationId: number; answer: ResponseBody<'OperationResult'> }>();
  private readonly held = new Map<number, Held>();
  private timer: NodeJS.Timeout | undefined;
  private retryMs: number;
  private flushing = false;
  private stopped = false;

  constructor(
    private readonly sender: ResultSender,
    private readonly log: Logger,
    private readonly firstRetryMs = 2_000,
  ) {
    this.retryMs = firstRetryMs;
  }

  get size(): number {
    return this.held.size;
  }

  /** Sends a report now; on an outage keeps the lock's frames and answers `queued`. */
  async send(deviceId: string, operationId: number, report: OperationReport): Promise<OutboxAnswer> {
    try {
      const answer = await this.sender.operationResult(operationId, report);
      this.held.delete(operationId);
      return answer;
    } catch (err) {
      // An expired report needs no resending: the RAS's own clock expires the operation.
      if (!(err instanceof RasError && err.isOutage) || 'expired' in report) throw err;
      // A later report of the same connection carries every earlier frame too: it replaces it.
      this.held.set(operationId, { deviceId, report, since: this.held.get(operationId)?.since ?? Date.now() });
      for (const id of [...this.held.keys()].slice(0, Math.max(0, this.held.size - MAX_HELD))) this.held.delete(id);
      this.log.warn(`Remote operation ${operationId} on ${deviceId}: the RAS did not take the lock's result (${err.message}); will send it again`);
      this.schedule();
      return { state: 'pending', queued: true };
    }
  }

  /** Sends every held report once; what the RAS still cannot take stays for the next try. */
  async flush(): Promise<void> {
    if (this.flushing) return;
    this.flushing = true;
    try {
      let outage = false;
      for (const [operationId, held] of [...this.held]) {
        if (Date.now() - held.since > MAX_AGE_MS) {
          this.held.delete(operationId);
          this.log.warn(`Remote operation ${operationId} on ${held.deviceId}: dropped the lock's result after 24 h without the RAS`);
          continue;
        }
        try {
          const answer = await this.sender.operationResult(operationId, held.report);
          if (this.held.get(operationId) === held) this.held.delete(operationId);
          this.log.info(`Remote operation ${operationId} on ${held.deviceId}: the RAS took the lock's result late: ${answer.state}`);
          this.delivered$.next({ deviceId: held.deviceId, operationId, answer });
        } catch (err) {
          if (err instanceof RasError && err.isOutage) {
            outage = true;
            break;
          }
          // A verdict (replaced, refused, unknown): the RAS has heard it and will not take it.
          if (this.held.get(operationId) === held) this.held.delete(operationId);
          this.log.warn(`Remote operation ${operationId} on ${held.deviceId}: the RAS did not take the lock's result: ${err instanceof Error ? err.message : String(err)}`);
        }
      }
      this.retryMs = outage ? Math.min(this.retryMs * 2, MAX_RETRY_MS) : this.firstRetryMs;
    } finally {
      this.flushing = false;
    }
    if (this.held.size) this.schedule();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.timer = undefined;
    this.delivered$.complete();
  }

  private schedule(): void {
    if (this.timer || this.stopped) return;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.retryMs);
    this.timer.unref();
  }
}
