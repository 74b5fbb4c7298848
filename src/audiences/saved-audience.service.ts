import { z } from 'zod';
import type { Services } from '../app.js';
import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import type { Principal } from '../authz/principal.js';
import { BadUserInputError, NotFoundError } from '../shared/errors.js';
import { isId, newId } from '../shared/ids.js';
import { parseInput, plainText } from '../shared/input.js';
import { PAGE, decodeCursor, encodeCursor, pageSize, toConnection, type ConnectionShape } from '../shared/pagination.js';
import type { Db } from '../db/connect.js';
import { parseAudienceFilter } from './audience.filter.js';
import { audiencePurpose, permitAudienceFilter, type AudienceCaller } from './audience.service.js';
import {
  countSavedAudiencesOf,
  deleteSavedAudienceOf,
  findSavedAudienceOf,
  insertSavedAudience,
  listSavedAudiencesOf,
  lockSavedAudiencesOf,
  type SavedAudience,
} from './saved-audience.queries.js';

export type { SavedAudience } from './saved-audience.queries.js';

type Deps = Pick<Services, 'db' | 'clock' | 'audit' | 'purposes'>;

// The filter is optional, as in CreateAudienceInput: left out, the audience is the whole purpose.
const createSchema = z.object({ name: plainText(200), purpose: z.string().max(64), filter: z.unknown().optional() });

/** Saved audiences one client may keep, so that the lists and the table stay bounded. */
export const MAX_SAVED_AUDIENCES = 500;

/** The client that owns what this caller saves; null for a caller that is not a client. */
const ownerOf = (principal: Principal): string | null => (principal.kind === 'client' ? principal.clientId : null);

/**
 * Saves a selection under a name; the filter is checked now and its members read live later. The
 * filter must select only on fields the purpose and the caller's token cover; it is checked again,
 * against the purpose then in force and the reader's token, on every read and export. The count
 * of the client's audiences is taken under its lock, so concurrent saves cannot pass the limit.
 * @throws BadUserInputError for a bad name, purpose or filter, or past MAX_SAVED_AUDIENCES;
 * ForbiddenError PURPOSE_NOT_COVERED or MISSING_SCOPE for a filter key on a field the purpose or
 * the token does not cover.
 */
export async function createSavedAudience(deps: Deps, caller: AudienceCaller, input: { name: string; purpose: string; filter?: unknown }): Promise<SavedAudience> {
  const { name, purpose: key, filter } = parseInput(createSchema, input);
  // Renamed to the input's path; any other failure (the database down) is not the caller's mistake.
  const purpose = await audiencePurpose(deps.purposes, key).catch((error: unknown) => {
    throw error instanceof BadUserInputError ? new BadUserInputError('input.purpose', 'is not a known purpose') : error;
  });
  const parsed = parseAudienceFilter(filter, 'input.filter');
  permitAudienceFilter(deps, caller, purpose.newest, parsed, { field: 'input.filter' });
  const owner = ownerOf(caller.principal);
  return deps.db.transaction().execute(async (tx) => {
    await lockSavedAudiencesOf(tx, owner);
    if ((await countSavedAudiencesOf(tx, owner)) >= MAX_SAVED_AUDIENCES) {
      throw new BadUserInputError('input', `at most ${MAX_SAVED_AUDIENCES} saved audiences per client may exist; delete one first`);
    }
    return insertSavedAudience(tx, { id: newId('aud'), name, purpose: purpose.newest.key, filter: parsed, createdBy: owner }, deps.clock.now());
  });
}

/**
 * A saved audience the calling client saved, by id; undefined for any other id. Another client's
 * audience is as unknown as one never saved: its name and filter are that client's own.
 */
export async function findSavedAudience(db: Db, caller: AudienceCaller, id: string): Promise<SavedAudience | undefined> {
  const owner = ownerOf(caller.principal);
  return owner !== null && isId('aud', id) ? findSavedAudienceOf(db, id, owner) : undefined;
}

/**
 * The audiences the calling client saved, oldest first, `first` at most `PAGE.max`. Another
 * client's audiences are not listed: each marketing tool sees the selections it made.
 * @throws BadUserInputError for a bad `first` or `after`.
 */
export async function listSavedAudiences(db: Db, caller: AudienceCaller, request: { first?: number | null; after?: string | null }): Promise<ConnectionShape<SavedAudience>> {
  const limit = pageSize(request.first ?? PAGE.default);
  const after = request.after ? decodeCursor(request.after, ['aud'])[0] : undefined;
  const owner = ownerOf(caller.principal);
  // One row past the page tells `hasNextPage`, with `first: 0` too: whether the client saved any.
  const rows = owner === null ? [] : await listSavedAudiencesOf(db, owner, limit + 1, after);
  return toConnection(rows, limit, (a) => encodeCursor([a.id]), (a) => a);
}

/**
 * Deletes a saved audience the calling client saved, audited as `audience.deleted` in the same
 * transaction; resolves to its id. Members and consents are untouched: an audience is only a
 * saved selection.
 * @throws NotFoundError for an unknown id or another client's audience (which stays unnamed).
 */
export async function deleteSavedAudience(deps: Deps, caller: AudienceCaller, id: string): Promise<string> {
  const owner = ownerOf(caller.principal);
  if (owner === null || !isId('aud', id)) throw new NotFoundError('Audience');
  return deps.db.transaction().execute(async (tx) => {
    const deleted = await deleteSavedAudienceOf(tx, id, owner);
    if (!deleted) throw new NotFoundError('Audience');
    await auditInTransaction(
      tx,
      {
        action: 'audience.deleted',
        ...auditCaller(caller.principal, caller.requestId),
        purpose: deleted.purpose,
        decision: 'ALLOW',
        detail: { savedAudienceId: deleted.id, name: deleted.name },
      },
      deps.clock.now(),
    );
    return deleted.id;
  });
}
