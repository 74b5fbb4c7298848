import { getHeapStatistics } from 'node:v8';
import { sql } from 'kysely';
import { isDatabaseUnavailable } from '../db/availability.js';
import type { Db } from '../db/connect.js';
import { QUERY_CANCELED } from '../db/server-session.js';
import type { Clock } from '../shared/clock.js';
import { resolvedWithin } from '../shared/deadline.js';
import type { Logger } from '../shared/logger.js';
import { prepareAuditEvent, type AuditEventInput, type PreparedAuditEvent } from './audit.actions.js';
import { appendPreparedAuditEvents, findWrittenAuditEventIds } from './audit.append.js';
import { HeldBytes } from './audit.held-bytes.js';
import { AuditPartitions } from './audit.partitions.js';

/** The part of a pino logger the writer uses. */
export type AuditLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

export interface AuditWriterOptions {
  /** Longest wait between a recorded event and the start of its write, in ms. */
  readonly flushIntervalMs?: number;
  /** Events per write; a full batch is written at once. */
  readonly maxBatch?: number;
  /**
   * Events waiting past which the writer is `backlogged`: the hub then refuses new requests until
   * it catches up. Those already admitted still have their events kept, up to twice this; past
   * that, new events are dropped (and counted in the log), so memory stays bounded.
   */
  readonly maxBuffered?: number;
  /**
   * The same bound in bytes of the heap the waiting events take (as `heldBytes` estimates them),
   * whichever of the two is reached first: a sixteenth of the heap's limit unless given, so that
   * the events kept, up to twice this, fit a heap made small (`--max-old-space-size`) beside
   * everything else the hub holds. 100,000 profile reads take some 85 MiB.
   */
  readonly maxBufferedBytes?: number;
  /** Wait before the one retry of a failed write, in ms. */
  readonly retryDelayMs?: number;
  /**
   * Longest `close()` waits for the database to take a batch, in ms, before it logs the events
   * still unwritten as lost: a database partitioned away answers no write, ever, and a shutdown
   * that waits on it is ended by a kill that loses them unlogged. Each batch taken starts the wait
   * again, so a slow database still taking a backlog is waited for.
   */
  readonly closeTimeoutMs?: number;
  /** How often the month's partitions are looked at while no batch is written, in ms (PARTITION_CHECK_MS). */
  readonly partitionCheckMs?: number;
}

const LOCK_NOT_AVAILABLE = '55P03';
/**
 * Longest a batch waits for a chain head, well under PostgreSQL's deadlock_timeout (1 s): a
 * transaction that audits several subjects in separate calls locks their heads in its own order,
 * a batch locks them sorted, and the two could wait on each other. The batch then gives up first,
 * so the change it crossed is never the one aborted.
 */
const HEAD_LOCK_TIMEOUT = '200ms';
const MAX_OUTAGE_PAUSE_MS = 5_000;

/**
 * Records audit events that belong to no state change (reads, above all) off the request path:
 * `record` only buffers; the buffer is written in the background, one transaction per batch,
 * 50 ms after the first buffered event or as soon as 500 are waiting. Batching keeps the cost of
 * auditing every read to a small share of read throughput. Events of a state change are not
 * written here but with `appendAuditEvents` in the change's own transaction. When writing falls
 * behind (an outage, or reads faster than their events are written), `backlogged` has the hub
 * turn new requests away until it catches up, rather than serve reads whose events it may drop.
 *
 * A failed write is logged and retried once with the same event ids, leaving out those already
 * stored: a write that committed but reported failure is not duplicated, and when it was held back
 * through an outage and joined by newer events, it does not take those down with it. After that
 * the batch is halved and each half written the same way, so that only an event the database
 * refuses on its own is logged in full at error level and dropped. A batch the database cannot
 * reach is held until it can; one it cancelled as too slow is written in halves, and an event it
 * cancels alone is held likewise. After `close()`, a batch that finds the database unreachable
 * twice is logged and dropped whole, and so is every batch after it, without a try: a shutdown
 * is not held up waiting out an outage once per event. A batch waits for a locked chain head
 * only briefly (HEAD_LOCK_TIMEOUT), then goes back to the buffer for another try: the changes of
 * the hub are never held up long by reads, and never aborted in a deadlock with them. Events
 * keep the order they were recorded in through every retry.
 * Makes sure the month's partitions exist at start and whenever the month turns, written to or not.
 * Call `close()` at shutdown, after the last request: whatever is still buffered is lost otherwise.
 */
export class AuditWriter {
  readonly #db: Db;
  readonly #logger: AuditLogger;
  readonly #clock: Clock;
  readonly #intervalMs: number;
  readonly #maxBatch: number;
  readonly #maxBuffered: number;
  readonly #maxBufferedBytes: number;
  readonly #retryDelayMs: number;
  readonly #closeTimeoutMs: number;
  #buffer: PreparedAuditEvent[] = [];
  /** What the events recorded and neither written nor lost yet take of the heap. */
  readonly #held = new HeldBytes();
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<unknown> | undefined;
  /** When the database last took a batch (or `close()` began), by `performance.now()`. */
  #lastTaken = 0;
  /** The batch being written, while it is. */
  #inFlight: readonly PreparedAuditEvent[] = [];
  /** Set once `close()` gave up on the database: what was left is logged, and nothing more is tried. */
  #abandoned = false;
  #closed = false;
  /** Set once a batch finds the database unreachable after `close()`: the rest are logged as lost without a try. */
  #unreachableAtClose = false;
  #dropped = 0;
  /**
   * The buffer reached `maxBuffered` and has not drained to half of it since: one spell of
   * requests turned away, logged once as it begins and once as it ends, however often the buffer
   * climbs back to its limit meanwhile.
   */
  #turningAway = false;
  #outageMs = 0;
  readonly #partitions: AuditPartitions;

  constructor(db: Db, logger: AuditLogger, clock: Clock, options: AuditWriterOptions = {}) {
    this.#db = db;
    this.#logger = logger;
    this.#clock = clock;
    this.#intervalMs = options.flushIntervalMs ?? 50;
    this.#maxBatch = options.maxBatch ?? 500;
    this.#maxBuffered = options.maxBuffered ?? 100_000;
    this.#maxBufferedBytes = options.maxBufferedBytes ?? Math.floor(getHeapStatistics().heap_size_limit / 16);
    this.#retryDelayMs = options.retryDelayMs ?? 100;
    this.#closeTimeoutMs = options.closeTimeoutMs ?? 10_000;
    this.#partitions = new AuditPartitions(db, clock, logger, options.partitionCheckMs);
  }

  /** Events waiting to be written. */
  get pending(): number {
    return this.#buffer.length;
  }

  /**
   * So many events wait that no new request may add to them: a read served now could not be
   * sure of its audit event. The hub answers 503 instead, and reports itself not ready.
   */
  get backlogged(): boolean {
    return this.#buffer.length >= this.#maxBuffered || this.#held.total >= this.#maxBufferedBytes;
  }

  /** Buffers one event, stamped with the current time. Never throws: a bad event is logged and dropped. */
  record(event: AuditEventInput): void {
    try {
      if (this.#closed) throw new Error('the audit writer is closed');
      if (this.#buffer.length >= 2 * this.#maxBuffered || this.#held.total >= 2 * this.#maxBufferedBytes) {
        if (this.#dropped++ === 0) this.#logger.error(`audit: ${this.#buffer.length} events are waiting to be written; dropping new ones`);
        return;
      }
      const prepared = prepareAuditEvent(event, this.#clock.now());
      this.#held.add(prepared);
      this.#buffer.push(prepared);
      if (this.backlogged && !this.#turningAway) {
        this.#turningAway = true;
        this.#logger.warn(`audit: ${this.#buffer.length} events are waiting to be written; requests are turned away until fewer are`);
      }
      if (this.#buffer.length >= this.#maxBatch) this.#startWrite();
      else this.#arm();
    } catch (error) {
      this.#logger.error({ err: error, action: event?.action }, 'audit: event not recorded');
    }
  }

  /** Resolves once every event recorded before the call is written (or logged as lost). Never rejects. */
  async flush(): Promise<void> {
    for (;;) {
      if (this.#writing) await this.#writing;
      else if (this.#buffer.length > 0) this.#startWrite();
      else return;
    }
  }

  /**
   * Flushes and stops accepting events; later `record` calls are logged and dropped. Waits while
   * the database takes a batch at least every `closeTimeoutMs`, then logs every event not yet
   * written in full as lost (a write still in flight may yet commit some of them: the same ids) and
   * resolves.
   */
  async close(): Promise<void> {
    this.#closed = true;
    this.#partitions.stop();
    this.#lastTaken = performance.now();
    const flushed = (async () => {
      await this.flush();
      await this.#partitions.settled();
    })();
    for (;;) {
      const wait = this.#closeTimeoutMs - (performance.now() - this.#lastTaken);
      if (wait <= 0) break;
      if (await resolvedWithin(flushed, wait)) return;
    }
    const left = new Map([...this.#inFlight, ...this.#buffer.splice(0)].map((event) => [event.id, event]));
    this.#lose([...left.values()], new Error(`the database did not take them within ${this.#closeTimeoutMs} ms of closing`));
    this.#abandoned = true;
  }

  #arm(): void {
    if (this.#timer || this.#writing) return;
    this.#timer = setTimeout(() => this.#startWrite(), this.#intervalMs);
    this.#timer.unref();
  }

  #startWrite(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#writing) return;
    // close() gave up and logged every event not written as lost, the half of a batch that came
    // back to the buffer since among them: left there, `flush` would loop on it and never return.
    if (this.#abandoned) return void this.#buffer.splice(0);
    const batch = this.#buffer.splice(0, this.#maxBatch);
    this.#inFlight = batch;
    this.#writing = this.#write(batch).finally(() => {
      this.#writing = undefined;
      this.#inFlight = [];
      if (this.#turningAway && this.#buffer.length <= this.#maxBuffered / 2 && this.#held.total <= this.#maxBufferedBytes / 2) {
        this.#turningAway = false;
        this.#logger.info(`audit: ${this.#buffer.length} events are waiting to be written; requests are no longer turned away`);
      }
      if (this.#buffer.length >= this.#maxBatch) this.#startWrite();
      else if (this.#buffer.length > 0) this.#arm();
    });
  }

  /** Writes a batch (or logs it as lost); resolves to how many of its events went back to the front of the buffer for a later try. */
  async #write(batch: readonly PreparedAuditEvent[]): Promise<number> {
    if (batch.length === 0) return 0;
    if (this.#unreachableAtClose) return this.#lose(batch, new Error('the database was unreachable at close'));
    await this.#partitions.ensure();
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#db.transaction().execute(async (trx) => {
          await sql`set local lock_timeout = ${sql.lit(HEAD_LOCK_TIMEOUT)}`.execute(trx);
          const written = attempt > 1 ? await findWrittenAuditEventIds(trx, batch) : new Set<string>();
          // Each event was prepared as it was recorded, so it keeps the time of its request.
          return appendPreparedAuditEvents(trx, batch.filter((event) => !written.has(event.id)));
        });
        this.#held.release(batch);
        if (this.#outageMs > 0) this.#logger.info(`audit: the database answers again; writing the ${batch.length + this.#buffer.length} events held`);
        this.#outageMs = 0;
        this.#lastTaken = performance.now();
        break;
      } catch (error) {
        // Cancelled by the server (past `statement_timeout` on a slow server, or an operator's
        // `pg_cancel_backend`): the database's state, not the events' fault. The batch is written
        // in halves, since a smaller one may fit the time the server allows, and an event
        // cancelled alone is held as through an outage, never dropped.
        const cancelled = (error as { code?: unknown }).code === QUERY_CANCELED;
        const unavailable = isDatabaseUnavailable(error) || cancelled;
        const locked = (error as { code?: unknown }).code === LOCK_NOT_AVAILABLE;
        // Held whole, a batch the server is too slow for would be tried whole again, and again.
        if (cancelled && batch.length > 1 && !this.#closed) return this.#writeHalves(batch);
        if (unavailable && !this.#closed) return this.#holdDuringOutage(batch, error);
        if (locked && !this.#closed) return this.#holdWhileLocked(batch);
        // One event the database refuses (or a head locked at close) must not take the others with
        // it: halve the batch until that event is alone. An outage at close is no event's fault:
        // halving would only wait it out again for every event, one by one.
        if (attempt > 1 && batch.length > 1 && !unavailable) return this.#writeHalves(batch);
        if (attempt > 1) {
          // A shutdown waits for every batch: each would wait out the same outage in vain.
          if (unavailable) this.#unreachableAtClose = true;
          return this.#lose(batch, error);
        }
        this.#logger.warn({ err: error }, `audit: writing ${batch.length} events failed; retrying once`);
        await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs));
      }
    }
    if (this.#dropped > 0) {
      this.#logger.error(`audit: ${this.#dropped} events were dropped while the buffer was full`);
      this.#dropped = 0;
    }
    return 0;
  }

  /** Logs the events in full at error level, so they can be recovered from the log, and drops them. */
  #lose(batch: readonly PreparedAuditEvent[], error: unknown): number {
    // Logged already, when close() gave up on the database.
    if (this.#abandoned || batch.length === 0) return 0;
    this.#held.release(batch);
    this.#logger.error({ err: error, events: batch }, `audit: ${batch.length} events could not be written and are lost`);
    return 0;
  }

  /**
   * Writes the two halves of a batch in turn. When the first goes back to the buffer (an outage,
   * a locked head), the second goes back right behind it, so events keep the order they were
   * recorded in, in their chains too.
   */
  async #writeHalves(batch: readonly PreparedAuditEvent[]): Promise<number> {
    const half = Math.ceil(batch.length / 2);
    const held = await this.#write(batch.slice(0, half));
    if (held === 0) return this.#write(batch.slice(half));
    const rest = batch.slice(half);
    this.#buffer.splice(held, 0, ...rest);
    return held + rest.length;
  }

  /**
   * The database is down: the batch goes back to the front of the buffer and is tried again
   * after a pause that doubles up to MAX_OUTAGE_PAUSE_MS, so nothing is lost while the buffer has room.
   */
  async #holdDuringOutage(batch: readonly PreparedAuditEvent[], error: unknown): Promise<number> {
    this.#buffer.unshift(...batch);
    if (this.#outageMs === 0) this.#logger.warn({ err: error }, `audit: database unreachable; holding ${this.#buffer.length} events until it answers`);
    this.#outageMs = Math.min(Math.max(this.#outageMs * 2, this.#retryDelayMs), MAX_OUTAGE_PAUSE_MS);
    await new Promise((resolve) => setTimeout(resolve, this.#outageMs).unref());
    return batch.length;
  }

  /** A chain head stayed locked past HEAD_LOCK_TIMEOUT: the batch goes back and is tried after a short pause. */
  async #holdWhileLocked(batch: readonly PreparedAuditEvent[]): Promise<number> {
    this.#buffer.unshift(...batch);
    await new Promise((resolve) => setTimeout(resolve, this.#retryDelayMs).unref());
    return batch.length;
  }
}
