import type { Db } from '../db/connect.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { ensureAuditPartitions } from './audit.queries.js';

/** After a failure to create partitions, how long before the next try. */
const PARTITION_RETRY_MS = 60_000;

/**
 * How often the month is looked at when no batch asks: the changes that audit in their own
 * transaction never do, and a month in which they alone were audited must still end with the
 * next month's partition made.
 */
export const PARTITION_CHECK_MS = 10 * 60_000;

/**
 * The audit trail's monthly partitions as one writer makes sure of them: at start and whenever the
 * month turns, once per month however many batches ask, and every `checkEveryMs` though none does;
 * a failure is logged and tried again no sooner than PARTITION_RETRY_MS, events going to the
 * default partition meanwhile.
 */
export class AuditPartitions {
  #current: { month: string; ready: Promise<void> } | undefined;
  #retryAt = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly db: Db,
    private readonly clock: Clock,
    private readonly logger: Pick<Logger, 'info' | 'warn'>,
    checkEveryMs = PARTITION_CHECK_MS,
  ) {
    void this.ensure();
    this.#timer = setInterval(() => void this.ensure(), checkEveryMs).unref();
  }

  /** Resolves once this month's partitions exist, or their creation failed (logged). Never rejects. */
  ensure(): Promise<void> {
    const now = this.clock.now();
    const month = now.toISOString().slice(0, 7);
    if (this.#current?.month === month || now.getTime() < this.#retryAt) return this.#current?.ready ?? Promise.resolve();
    const ready = ensureAuditPartitions(this.db, now).then(
      (created) => {
        if (created.length > 0) this.logger.info(`audit: created partitions ${created.join(', ')}`);
      },
      (error: unknown) => {
        if (this.#current?.ready === ready) this.#current = undefined;
        this.#retryAt = now.getTime() + PARTITION_RETRY_MS;
        this.logger.warn({ err: error }, 'audit: could not create partitions; events go to the default partition');
      },
    );
    this.#current = { month, ready };
    return ready;
  }

  /** Stops looking at the month by the timer; batches still written go on asking. */
  stop(): void {
    clearInterval(this.#timer);
  }

  /** Resolves once the creation under way, if any, has ended. */
  async settled(): Promise<void> {
    await this.#current?.ready;
  }
}
