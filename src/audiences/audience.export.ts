import type { Services } from '../app.js';
import { auditCaller } from '../audit/audit.service.js';
import { NotFoundError } from '../shared/errors.js';
import { parseAudienceFilter } from './audience.filter.js';
import { findAudienceBatchEnds, findAudienceExportLines, type MemberRange } from './audience.queries.js';
import { groupVersions } from './audience.coverage.js';
import { holdLines, type HeldLines } from './audience.held-lines.js';
import type { AudienceReads } from './audience.reads.js';
import { allowedMemberFields, audienceFieldsRead, audiencePurpose, audienceSelection, permitAudienceFilter, type AudienceCaller } from './audience.service.js';
import { findSavedAudience } from './saved-audience.service.js';

type Deps = Pick<Services, 'db' | 'clock' | 'audit' | 'purposes'>;

/**
 * Members per statement of an export, as counted when it begins. Each statement costs little
 * beyond its rows (see `findAudienceExportLines`): on 55,915 members of a million customers here,
 * batches of 5,000, 10,000 and 40,000 took the export the same time within the noise, and batches
 * of 1,000 took it some 15% longer. Two are read at once, on two connections: one statement keeps
 * one core of the server busy, and the server is what an export waits on (its batches took 0.49 s
 * read two at a time here, against 0.70 s one after the other). Memory stays bounded by four
 * batches, whatever the audience's size and however slowly it is read: the one the connection is
 * writing, the next one waiting in the stream for it, and the two read meanwhile; what every
 * export holds at once is bounded by `HeldLines`, and a batch made smaller where that bound is
 * small (`exportBatchFor`).
 */
const EXPORT_BATCH = 10_000;

/** The fewest members per statement, however small the bound on the lines held. */
const SMALLEST_EXPORT_BATCH = 1_000;

/** About the longest line a member makes: the fullest preferences and address a profile takes, some 5 KB of JSON. */
const LONGEST_LINE = 5 * 1024;

/** The copies of its lines a batch is held in at once: the rows' text, the batch's text and the bytes written. */
const HELD_COPIES = 3;

/**
 * Members per statement for an instance whose exports hold at most `heldBound` bytes of lines
 * (`holdLines`): as many as let one export's four batches of the longest lines fit in it, from
 * SMALLEST_EXPORT_BATCH to EXPORT_BATCH. With the default bound (an eighth of the heap) that is
 * some 9,000 members; under a heap of 128 MiB, 1,000 (4 MB of lines at the longest, where 10,000
 * would be 150 MB held).
 */
export function exportBatchFor(heldBound: number): number {
  return Math.min(EXPORT_BATCH, Math.max(SMALLEST_EXPORT_BATCH, Math.floor(heldBound / (4 * HELD_COPIES * LONGEST_LINE))));
}

/** How an export runs: its batch size, and the turns its statements take (`limitAudienceReads`). */
export interface ExportOptions {
  readonly batchSize?: number;
  readonly reads?: ExportReads;
  /** Rejects once the caller's token no longer stands (`FastifyRequest.recheckToken`); run before each batch but the first. */
  readonly recheckToken?: () => Promise<void>;
  /** The lines every export of the instance holds (`holdLines`): none begins while they are full, nor reads ahead. */
  readonly held?: HeldLines;
}

/** Runs a statement of the export when its turn comes: the client's turns of `Services.audienceReads`. */
export type ExportReads = ReturnType<AudienceReads>;

/**
 * The checks an export makes before it reads anything: the audience is this client's, and its
 * filter is one the purpose now and the caller's token cover (a refusal audited).
 * @throws NotFoundError, ForbiddenError as `exportSavedAudience` does.
 */
export async function permitSavedAudienceExport(deps: Deps, caller: AudienceCaller, id: string) {
  const saved = await findSavedAudience(deps.db, caller, id);
  if (!saved) throw new NotFoundError('Audience');
  const purpose = await audiencePurpose(deps.purposes, saved.purpose);
  const filter = parseAudienceFilter(saved.filter);
  permitAudienceFilter(deps, caller, purpose.newest, filter, { field: 'filter', audited: { action: 'audience.exported', detail: { savedAudienceId: saved.id } } });
  return { saved, purpose, filter };
}

/**
 * A saved audience as newline-delimited JSON: the member id and the fields that the purpose (in
 * the version of the member's consent and the newest) and the caller's scopes all cover (decided
 * once per version, in src/authz), nothing else, each line built by PostgreSQL from only their
 * columns. Reads batches in user-id order, ranges of `batchSize` members as counted when it
 * begins (`findAudienceBatchEnds`), each consents' state as of its own statement, so a member who
 * withdraws mid-export is left out of every batch read after; the next two batches are read while
 * the current one is sent, each when `reads` gives it its turn (and not at all if the lines have
 * stopped by then, as when their reader left). The first batch is read before
 * this resolves, so that a failure before any line is the caller's to answer with an error
 * status, not a 200 cut short.
 * Audited as `audience.exported` with the count and what it read (`audienceFieldsRead`: the
 * fields of its lines, when it handed any over, and those its filter selects on) once the last
 * line is out; an export that fails before its first batch sent nothing and is not audited, as a
 * failed query is not.
 * @throws NotFoundError for an audience this client did not save, ForbiddenError for a filter
 * the purpose now or the caller's token does not cover (`permitAudienceFilter`), and whatever
 * reading the first batch throws, all before the first line.
 */
export async function exportSavedAudience(deps: Deps, caller: AudienceCaller, id: string, options: ExportOptions = {}): Promise<AsyncGenerator<string>> {
  const { batchSize = EXPORT_BATCH, reads = (read) => read(), recheckToken = async () => {}, held = holdLines(Infinity) } = options;
  const { saved, purpose, filter } = await permitSavedAudienceExport(deps, caller, id);
  const fields = allowedMemberFields(caller.principal, purpose.byVersion.get(purpose.newest.version)!);
  const groups = groupVersions(purpose, fields);
  type Batch = Awaited<ReturnType<typeof findAudienceExportLines>>;
  // Set once the lines end, are cut off or their reader leaves: a batch whose turn comes after reads nothing.
  let stopped = false;
  // An export outlives the request that began it, for as long as its reader reads: what ends
  // access on the next request elsewhere must end it too. Before each batch, the purpose must be
  // the version the export decided its fields by (a new one may cover less, and is in force on
  // every instance at once), and the caller's token must still stand as a request's would. Else
  // the export ends there, cut short.
  const stillAllowed = async () => {
    const [newest] = await deps.purposes.versions(purpose.newest.key);
    if (newest?.version !== purpose.newest.version) throw new Error(`the purpose ${purpose.newest.key} changed during the export: export again`);
    await recheckToken();
  };
  // The releases of what this export's batches hold, read and not yet taken by the reader.
  const holding = new Set<() => void>();
  const read = (range: MemberRange, first = false): Promise<Batch & { release: () => void }> => {
    // Its consents' state as of its own statement, when its turn comes.
    const batch = reads(async () => {
      if (stopped) return Object.assign([], { release: () => {} });
      if (!first) await stillAllowed();
      // Counted as soon as it is read: the next export begins only after (`HeldLines.begin`).
      const readAndHold = async () => {
        const rows = await findAudienceExportLines(deps.db, audienceSelection(purpose, filter, deps.clock.now()), range, groups);
        // Held no longer once the lines have ended (their releases ran): read after, it is dropped.
        if (stopped) return Object.assign([], { release: () => {} });
        let characters = 0;
        for (const { line } of rows) characters += (line?.length ?? 0) + 1;
        const hold = held.hold(characters * HELD_COPIES);
        holding.add(hold);
        return Object.assign(rows, { release: () => (hold(), holding.delete(hold)) });
      };
      return first ? held.begin(readAndHold) : readAndHold();
    });
    batch.catch(() => {});
    return batch;
  };
  // A scan of the whole audience, as a batch is: in a turn too.
  const ends = await reads(() => findAudienceBatchEnds(deps.db, audienceSelection(purpose, filter, deps.clock.now()), batchSize));
  const ranges: MemberRange[] = [...ends, undefined].map((upTo, i) => ({ after: ends[i - 1], upTo }));
  const reading = [read(ranges.shift()!, true)];
  await reading[0];
  const generator = (async function* lines() {
    let exported = 0;
    // The batch handed out before the last: still in the connection's buffers until the next is
    // asked for.
    let sent = () => {};
    try {
      for (;;) {
        const next = reading.shift() ?? (ranges.length > 0 ? read(ranges.shift()!) : undefined);
        if (!next) break;
        const rows = await next;
        // Two batches are read while this one is sent, while the instance's lines leave room.
        while (reading.length < 2 && ranges.length > 0 && !held.full()) reading.push(read(ranges.shift()!));
        const lines: string[] = [];
        for (const { line } of rows) if (line !== null) lines.push(line);
        // Counted before it is handed out: a reader that stops after it has still taken it.
        exported += lines.length;
        if (lines.length > 0) yield `${lines.join('\n')}\n`;
        sent();
        sent = rows.release;
      }
    } finally {
      stopped = true;
      for (const release of holding) release();
      deps.audit.record({
        action: 'audience.exported',
        ...auditCaller(caller.principal, caller.requestId),
        purpose: purpose.newest.key,
        decision: 'ALLOW',
        fieldsRead: audienceFieldsRead(exported, fields, filter),
        detail: { savedAudienceId: saved.id, members: exported, filter },
      });
    }
  })();
  // Ended before its first step (its reader gone before the body began), a generator runs no
  // `finally`: what the first batch holds is let go here as well.
  const end = generator.return.bind(generator);
  generator.return = (value) => {
    stopped = true;
    for (const release of holding) release();
    return end(value);
  };
  return generator;
}
