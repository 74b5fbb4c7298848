import { z } from 'zod';
import type { Services } from '../app.js';
import { auditCaller } from '../audit/audit.service.js';
import { decideAudienceField } from '../authz/audience-access.js';
import type { Principal } from '../authz/principal.js';
import type { DataCategory, FieldRef } from '../authz/scopes.js';
import { findPurpose, type Purpose } from '../consent/purposes.js';
import type { Db } from '../db/connect.js';
import type { User } from '../identity/user.queries.js';
import { BadUserInputError, NotFoundError } from '../shared/errors.js';
import { isId, newId } from '../shared/ids.js';
import { parseInput, plainText } from '../shared/input.js';
import { decodeCursor, encodeCursor, toConnection, type ConnectionShape } from '../shared/pagination.js';
import { parseAudienceFilter, type AudienceFilter } from './audience.filter.js';
import { countAudience, findAudiencePage, findSavedAudienceById, insertSavedAudience, type AudienceSelection, type SavedAudience } from './audience.queries.js';

export type { SavedAudience } from './audience.queries.js';

/**
 * Audience pages have their own cap: a campaign tool pulls members by the thousand, while the
 * hub's other lists stay at `PAGE.max`.
 */
export const AUDIENCE_PAGE = Object.freeze({ default: 100, max: 1_000 });

/** A member as an audience shows it: the user, with the purpose that decides its fields. */
export interface AudienceMember {
  readonly purpose: Pick<Purpose, 'key' | 'dataCategories'>;
  readonly user: User;
}

export interface AudiencePage extends ConnectionShape<AudienceMember> {
  /** Counts the members on demand (`totalCount`): never run unless asked for. */
  readonly count: () => Promise<number>;
}

/** Who asks, for the audit trail. */
export interface AudienceCaller {
  readonly principal: Principal;
  readonly requestId: string | null;
}

type Deps = Pick<Services, 'db' | 'clock' | 'audit'>;

/** The purpose with this key; @throws BadUserInputError for an unknown one. */
export async function audiencePurpose(db: Db, key: string): Promise<Purpose> {
  const purpose = key.length <= 64 ? await findPurpose(db, key) : undefined;
  if (!purpose) throw new BadUserInputError('purpose', 'is not a known purpose');
  return purpose;
}

function audiencePageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return AUDIENCE_PAGE.default;
  if (!Number.isInteger(first) || first < 0 || first > AUDIENCE_PAGE.max) throw new BadUserInputError('first', `must be from 0 to ${AUDIENCE_PAGE.max}`);
  return first;
}

/**
 * One page of an audience, its members those with a consent to the company for the purpose in
 * force now; audited as `audience.queried` with the purpose and the number of members returned.
 */
export async function queryAudience(
  deps: Deps,
  caller: AudienceCaller,
  request: { purpose: string; filter?: unknown; first?: number | null; after?: string | null; savedAudienceId?: string },
): Promise<AudiencePage> {
  const purpose = await audiencePurpose(deps.db, request.purpose);
  const filter = parseAudienceFilter(request.filter);
  const limit = audiencePageSize(request.first);
  const after = request.after ? (decodeCursor(request.after, ['string'])[0] as string) : undefined;
  const selection: AudienceSelection = { purpose: purpose.key, filter, now: deps.clock.now() };
  const rows = limit === 0 ? [] : await findAudiencePage(deps.db, selection, limit + 1, after);
  const page = toConnection(rows, limit, (u) => encodeCursor([u.id]), (user): AudienceMember => ({ purpose, user }));
  deps.audit.record({
    action: 'audience.queried',
    ...auditCaller(caller.principal, caller.requestId),
    purpose: purpose.key,
    decision: 'ALLOW',
    detail: { members: page.edges.length, filter, first: limit, ...(request.savedAudienceId && { savedAudienceId: request.savedAudienceId }) },
  });
  return { ...page, count: () => countAudience(deps.db, selection) };
}

const createSchema = z.object({ name: plainText(200), purpose: z.string().max(64), filter: z.unknown() });

/** Saves a selection under a name; the filter is checked now and its members read live later. */
export async function createSavedAudience(deps: Deps, caller: AudienceCaller, input: { name: string; purpose: string; filter?: unknown }): Promise<SavedAudience> {
  const { name, purpose: key, filter } = parseInput(createSchema, input);
  const purpose = await audiencePurpose(deps.db, key).catch(() => {
    throw new BadUserInputError('input.purpose', 'is not a known purpose');
  });
  const parsed = parseAudienceFilter(filter, 'input.filter');
  const createdBy = caller.principal.kind === 'client' ? caller.principal.clientId : null;
  return insertSavedAudience(deps.db, { id: newId('aud'), name, purpose: purpose.key, filter: parsed, createdBy }, deps.clock.now());
}

/** A saved audience by id; undefined for an id the hub never gave out. */
export async function findSavedAudience(db: Db, id: string): Promise<SavedAudience | undefined> {
  return isId('aud', id) ? findSavedAudienceById(db, id) : undefined;
}

/** The member fields an export can hold, each with the data scope that covers it. */
const EXPORT_FIELDS: readonly [DataCategory, keyof User & string][] = [
  ['contact', 'email'],
  ['contact', 'emailVerified'],
  ['contact', 'phone'],
  ['identity', 'givenName'],
  ['identity', 'familyName'],
  ['identity', 'birthdate'],
  ['profile', 'locale'],
  ['profile', 'country'],
  ['profile', 'createdAt'],
  ['address', 'address'],
  ['preferences', 'preferences'],
  ['loyalty', 'loyalty'],
];

/** Rows per statement of an export: memory stays bounded by one batch, whatever the audience's size. */
const EXPORT_BATCH = 1_000;

/**
 * A saved audience as newline-delimited JSON: the member id and the fields that the purpose and
 * the caller's scopes both cover (decided once, in src/authz), nothing else. Reads keyset batches
 * in user-id order, each consents' state as of its own statement, so a member who withdraws
 * mid-export is left out of every batch after. Audited as `audience.exported` with the count once
 * the last line is out.
 * @throws NotFoundError for an unknown audience (before the first line).
 */
export async function exportSavedAudience(deps: Deps, caller: AudienceCaller, id: string): Promise<AsyncGenerator<string>> {
  const saved = await findSavedAudience(deps.db, id);
  if (!saved) throw new NotFoundError('Audience');
  const purpose = await audiencePurpose(deps.db, saved.purpose);
  const filter: AudienceFilter = parseAudienceFilter(saved.filter);
  const fields = EXPORT_FIELDS.filter(([category, field]) => {
    const ref: FieldRef = { category, field };
    return decideAudienceField(caller.principal, { purpose, ref }).allowed;
  }).map(([, field]) => field);
  return (async function* lines() {
    let exported = 0;
    let after: string | undefined;
    try {
      for (;;) {
        const batch = await findAudiencePage(deps.db, { purpose: purpose.key, filter, now: deps.clock.now() }, EXPORT_BATCH, after);
        for (const user of batch) {
          const line: Record<string, unknown> = { id: user.id };
          for (const field of fields) line[field] = user[field];
          yield `${JSON.stringify(line)}\n`;
        }
        exported += batch.length;
        if (batch.length < EXPORT_BATCH) break;
        after = batch.at(-1)!.id;
      }
    } finally {
      deps.audit.record({
        action: 'audience.exported',
        ...auditCaller(caller.principal, caller.requestId),
        purpose: purpose.key,
        decision: 'ALLOW',
        fieldsRead: fields,
        detail: { savedAudienceId: saved.id, members: exported, filter },
      });
    }
  })();
}
