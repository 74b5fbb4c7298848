import type { Services } from '../app.js';
import { auditCaller } from '../audit/audit.service.js';
import { decideAudienceField } from '../authz/audience-access.js';
import type { Principal } from '../authz/principal.js';
import { findPurpose, type Purpose } from '../consent/purposes.js';
import type { Db } from '../db/connect.js';
import { BadUserInputError } from '../shared/errors.js';
import { decodeCursor, encodeCursor, type ConnectionShape } from '../shared/pagination.js';
import { MEMBER_FIELDS, MEMBER_FIELD_NAMES, columnsOf, type AudienceRequest, type MemberField, type MemberRow } from './audience.fields.js';
import { parseAudienceFilter } from './audience.filter.js';
import { countAudience, findAudiencePage, type AudienceSelection } from './audience.queries.js';

/**
 * Audience pages have their own cap: a campaign tool pulls members by the thousand, while the
 * hub's other lists stay at `PAGE.max`.
 */
export const AUDIENCE_PAGE = Object.freeze({ default: 100, max: 1_000 });

/** A member as an audience shows it: its row, with the purpose that decides its fields. */
export interface AudienceMember {
  readonly purpose: Pick<Purpose, 'key' | 'dataCategories'>;
  readonly row: MemberRow;
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

/**
 * The member fields, among `fields`, that this caller may read for this purpose: decided once
 * for a whole page or export by src/authz (the decision depends on the purpose and the token, not
 * on the member), in the order of MEMBER_FIELDS.
 */
export function allowedMemberFields(principal: Principal, purpose: Purpose, fields: readonly MemberField[] = MEMBER_FIELD_NAMES): MemberField[] {
  return fields.filter((field) => decideAudienceField(principal, { purpose, ref: { category: MEMBER_FIELDS[field].category, field } }).allowed);
}

function audiencePageSize(first: number | null | undefined): number {
  if (first === null || first === undefined) return AUDIENCE_PAGE.default;
  if (!Number.isInteger(first) || first < 0 || first > AUDIENCE_PAGE.max) throw new BadUserInputError('first', `must be from 0 to ${AUDIENCE_PAGE.max}`);
  return first;
}

/** An edge whose cursor is encoded only if the query reads it: most pages want only the last. */
class MemberEdge {
  constructor(readonly node: AudienceMember) {}
  get cursor(): string {
    return encodeCursor([this.node.row.id]);
  }
}

/**
 * One page of an audience, its members those with a consent to the company for the purpose in
 * force now; audited as `audience.queried` with the purpose and the number of members returned.
 * `asked` is what the query selects: the page reads the `users` columns of the member fields
 * asked for (a refused one is null with FORBIDDEN, decided on the field, so its value never
 * leaves the hub), and the count runs only when `totalCount` is asked for. The purpose lookup,
 * the page and the count are independent statements and run side by side.
 */
export async function queryAudience(
  deps: Deps,
  caller: AudienceCaller,
  request: { purpose: string; filter?: unknown; first?: number | null; after?: string | null; savedAudienceId?: string; asked?: AudienceRequest },
): Promise<AudiencePage> {
  if (request.purpose.length > 64) throw new BadUserInputError('purpose', 'is not a known purpose');
  const filter = parseAudienceFilter(request.filter);
  const limit = audiencePageSize(request.first);
  const after = request.after ? (decodeCursor(request.after, ['string'])[0] as string) : undefined;
  const asked = request.asked ?? { fields: MEMBER_FIELD_NAMES, totalCount: true };
  const selection: AudienceSelection = { purpose: request.purpose, filter, now: deps.clock.now() };
  const counting = asked.totalCount ? countAudience(deps.db, selection) : undefined;
  // Awaited by `totalCount`; a failure before then (an unknown purpose) must not go unhandled.
  counting?.catch(() => {});
  const [found, rows] = await Promise.allSettled([
    audiencePurpose(deps.db, request.purpose),
    limit === 0 ? [] : findAudiencePage(deps.db, selection, limit + 1, after, columnsOf(asked.fields)),
  ]);
  if (found.status === 'rejected') throw found.reason;
  if (rows.status === 'rejected') throw rows.reason;
  const purpose = found.value;
  const member = { key: purpose.key, dataCategories: purpose.dataCategories };
  const edges = rows.value.slice(0, limit).map((row) => new MemberEdge({ purpose: member, row }));
  deps.audit.record({
    action: 'audience.queried',
    ...auditCaller(caller.principal, caller.requestId),
    purpose: purpose.key,
    decision: 'ALLOW',
    detail: { members: edges.length, filter, first: limit, ...(request.savedAudienceId && { savedAudienceId: request.savedAudienceId }) },
  });
  return {
    edges,
    pageInfo: { hasNextPage: rows.value.length > limit, endCursor: edges.at(-1)?.cursor ?? null },
    count: () => counting ?? countAudience(deps.db, selection),
  };
}
