import type { Services } from '../app.js';
import { auditCaller } from '../audit/audit.service.js';
import { decideAudienceField, decideAudienceFilter } from '../authz/audience-access.js';
import type { Principal } from '../authz/principal.js';
import type { PurposeRegistry } from '../consent/purpose-registry.js';
import type { Purpose } from '../consent/purposes.js';
import { BadUserInputError, ForbiddenError } from '../shared/errors.js';
import { AUDIENCE_PAGE, Edge, decodeCursor, encodeCursor, pageSize, type ConnectionShape } from '../shared/pagination.js';
import { audiencePurposeOf, coversNothing, groupVersions, versionsCovering, type AudiencePurpose, type MemberPurpose } from './audience.coverage.js';
import { EVERYTHING, MEMBER_FIELDS, MEMBER_FIELD_NAMES, columnsOf, type AudienceRequest, type MemberField, type MemberRow } from './audience.fields.js';
import { filterReads, parseAudienceFilter, type AudienceFilter } from './audience.filter.js';
import { countAudience, findAudiencePage, type AudienceSelection } from './audience.queries.js';

/** What each member field holds when shown: the value MEMBER_FIELDS reads for it off the row. */
type MemberValues = { readonly [F in MemberField]: ReturnType<(typeof MEMBER_FIELDS)[F]['read']> };

/**
 * A member as a page shows it: the id, and each member field the query asks for, holding its
 * value or, where the decision refused the field, the refusal. GraphQL resolves a field whose
 * value is an error to null with that error (graphql-js and graphql-jit alike), so the member
 * fields are read straight off the member, without a resolver each of the 1,000 members of a
 * page would call.
 */
export type AudienceMember = { readonly id: string } & Partial<MemberValues>;

export interface AudiencePage extends ConnectionShape<AudienceMember> {
  /** Counts the members on demand (`totalCount`): never run unless asked for. */
  readonly count: () => Promise<number>;
}

/** Who asks, for the audit trail. */
export interface AudienceCaller {
  readonly principal: Principal;
  readonly requestId: string | null;
}

type Deps = Pick<Services, 'db' | 'clock' | 'audit' | 'purposes' | 'audienceReads'>;

/** The purpose with this key, every version of it; @throws BadUserInputError for an unknown one. */
export async function audiencePurpose(purposes: PurposeRegistry, key: string): Promise<AudiencePurpose> {
  const versions = key.length <= 64 ? await purposes.versions(key) : [];
  if (versions.length === 0) throw new BadUserInputError('purpose', 'is not a known purpose');
  return audiencePurposeOf(versions);
}

/**
 * The member fields, among `fields`, that this caller may read of members who show the purpose
 * so: decided by src/authz once for all of them (the decision depends on the purpose and the
 * token, not on the member), in the order of MEMBER_FIELDS.
 */
export function allowedMemberFields(principal: Principal, purpose: MemberPurpose, fields: readonly MemberField[] = MEMBER_FIELD_NAMES): MemberField[] {
  return fields.filter((field) => decideAudienceField(principal, { purpose, ref: { category: MEMBER_FIELDS[field].category, field } }).allowed);
}

/**
 * What an audience read reads, as its audit's `fieldsRead`: the member fields it showed, which are
 * none unless it showed a member (`members`, as its audit counts them), and then each member's `id`
 * (which every member, and its cursor, shows; no scope covers it) and `fields` (as
 * `allowedMemberFields` decided them); and the fields its filter selects on (`filterReads`),
 * whether or not anyone matched. Each once, sorted. A filter reads its field as surely as showing
 * it would (see FILTER_FIELDS), so an access review counts both as use of the scopes that cover
 * them. Never throws.
 */
export function audienceFieldsRead(members: number, fields: readonly MemberField[], filter: AudienceFilter): string[] {
  const shown = members > 0 ? ['id', ...fields] : [];
  return [...new Set<string>([...shown, ...filterReads(filter).map((read) => read.ref.field)])].sort();
}

/** Where a filter is checked: the input path its keys are named under, and the audit of a refusal. */
export interface FilterCheck {
  /** The filter's path in the input (`filter`, `input.filter`): a refusal names `<field>.<key>`. */
  readonly field: string;
  /** Recorded as DENY with the reason when the filter is refused; nothing when left out. */
  readonly audited?: { readonly action: 'audience.queried' | 'audience.exported'; readonly detail: Readonly<Record<string, unknown>> };
}

/**
 * Refuses a filter that selects on a field this caller may not read for this purpose, decided by
 * src/authz (`decideAudienceFilter`) before any statement runs it: a filter is an oracle for what
 * it selects on. FORBIDDEN with the reason of a refused field, not BAD_USER_INPUT: the filter is
 * well formed, the caller is not allowed it, and the reason tells a marketing tool what to fix
 * (its token's scopes, or the purpose). The message names the key and the field it reads.
 * @throws ForbiddenError PURPOSE_NOT_COVERED or MISSING_SCOPE for the first refused key.
 */
export function permitAudienceFilter(deps: Pick<Services, 'audit'>, caller: AudienceCaller, purpose: Purpose, filter: AudienceFilter, check: FilterCheck): void {
  const decision = decideAudienceFilter(caller.principal, purpose, filterReads(filter));
  if (decision.allowed) return;
  const { key, ref, reason } = decision;
  if (check.audited) {
    deps.audit.record({
      action: check.audited.action,
      ...auditCaller(caller.principal, caller.requestId),
      purpose: purpose.key,
      decision: 'DENY',
      reason,
      fieldsDenied: [ref.field],
      detail: { ...check.audited.detail, filter, refusedFilter: key },
    });
  }
  const read = `${ref.category}.${ref.field}`;
  const why = reason === 'PURPOSE_NOT_COVERED' ? `the purpose ${purpose.key} does not cover ${read}` : `the token's scopes do not cover ${read}`;
  throw new ForbiddenError(reason, `Not allowed to filter on ${check.field}.${key}: ${why}`);
}

/**
 * What selects the members of this purpose by this filter now: only members whose consent covers
 * every field the filter selects on (`versionsCovering`).
 */
export function audienceSelection(purpose: AudiencePurpose, filter: AudienceFilter, now: Date): AudienceSelection {
  const versions = versionsCovering(purpose, filterReads(filter).map((read) => read.ref));
  return { purpose: purpose.newest.key, filter, now, ...(versions ? { versions } : {}) };
}

/** A member's cursor: the user id the keyset pages by, named as the members' (the users list's is a user id too). */
const MEMBERS = 'members';
const memberCursor = (row: MemberRow) => encodeCursor([row.id], MEMBERS);

/**
 * What a member's refused field holds, given the refusal and how many times the answer shows the
 * field: the refusal itself, or (a GraphQL request's, `answeredRefusal`) past the most errors one
 * answer carries, what stands for them.
 */
type Refused = (refusal: ForbiddenError, answers: number) => Error;

/**
 * Shows members whose consent was given under one version of the purpose, with `fields`: each
 * field decided by src/authz once for all of them (the decision depends on the purpose and the
 * token, not on the member); a refused field holds FORBIDDEN with the reason, never the value, as
 * `refused` passes it on.
 */
function showMember(principal: Principal, purpose: MemberPurpose, asked: AudienceRequest, refused: Refused): (row: MemberRow) => AudienceMember {
  const decided = asked.fields.map((field) => {
    const decision = decideAudienceField(principal, { purpose, ref: { category: MEMBER_FIELDS[field].category, field } });
    return { field, answers: asked.answers[field] ?? 1, refusal: decision.allowed ? undefined : new ForbiddenError(decision.reason, `Not allowed to read ${field} for this purpose`) };
  });
  return (row) => {
    const member: Record<string, unknown> = { id: row.id };
    for (const { field, answers, refusal } of decided) member[field] = refusal ? refused(refusal, answers) : MEMBER_FIELDS[field].read(row);
    return member as AudienceMember;
  };
}

/**
 * One page of an audience, its members those with a consent to the company for the purpose in
 * force now; audited as `audience.queried` with the purpose, the number of members returned,
 * what it read (`audienceFieldsRead`: the member fields asked for and allowed, with `id`, when it
 * shows a member, and the fields its filter selects on) and the member fields asked for and refused.
 * `asked` is what the query selects: the page reads the `users` columns of the member fields
 * asked for (a refused one holds FORBIDDEN in place of its value, `showMember`, so the value
 * never leaves the hub), and is read only when the query lists members (`edges`, `pageInfo`); the
 * count runs only when `totalCount` is asked for. The filter is checked against the purpose and
 * the token first (`permitAudienceFilter`), so the purpose is read before the page and the count,
 * which then run side by side: a refused filter runs no statement, so neither an answer nor its
 * timing can tell anything about the members. Where versions of the purpose cover different
 * fields, a filter selects only members whose consent covers what it selects on, and a page reads
 * each member's version to decide its fields.
 * @throws ForbiddenError when the filter selects on a field the purpose or the token does not cover.
 */
export async function queryAudience(
  deps: Deps,
  caller: AudienceCaller,
  request: { purpose: string; filter?: unknown; first?: number | null; after?: string | null; savedAudienceId?: string; asked?: AudienceRequest; refused?: Refused },
): Promise<AudiencePage> {
  if (request.purpose.length > 64) throw new BadUserInputError('purpose', 'is not a known purpose');
  const filter = parseAudienceFilter(request.filter);
  const limit = pageSize(request.first, AUDIENCE_PAGE);
  const after = request.after ? decodeCursor(request.after, ['usr'], MEMBERS)[0] : undefined;
  const asked = request.asked ?? EVERYTHING;
  const saved = request.savedAudienceId ? { savedAudienceId: request.savedAudienceId } : {};
  const purpose = await audiencePurpose(deps.purposes, request.purpose);
  permitAudienceFilter(deps, caller, purpose.newest, filter, { field: 'filter', audited: { action: 'audience.queried', detail: { first: limit, ...saved } } });
  const selection = audienceSelection(purpose, filter, deps.clock.now());
  const reads = deps.audienceReads(caller.principal.kind === 'anonymous' ? '' : caller.principal.clientId);
  const count = () => reads(() => countAudience(deps.db, selection));
  const counting = asked.totalCount ? count() : undefined;
  // Awaited by `totalCount`; a failure before then (the page's) must not leave it unhandled.
  counting?.catch(() => {});
  const alike = groupVersions(purpose, asked.fields).length === 1;
  const listing = limit > 0 && asked.page;
  // One row past the page tells `hasNextPage`, with `first: 0` too: whether the audience has anyone.
  const rows = asked.page ? await reads(() => findAudiencePage(deps.db, selection, limit + 1, after, columnsOf(asked.fields), { withVersion: !alike })) : [];
  const newest = purpose.byVersion.get(purpose.newest.version)!;
  const unknownVersion = coversNothing(purpose);
  const shows = new Map<MemberPurpose, (row: MemberRow) => AudienceMember>();
  const member = (row: MemberRow) => {
    const shownAs = alike ? newest : (purpose.byVersion.get(row.policy_version!) ?? unknownVersion);
    let show = shows.get(shownAs);
    if (!show) shows.set(shownAs, (show = showMember(caller.principal, shownAs, asked, request.refused ?? ((refusal) => refusal))));
    return show(row);
  };
  const edges = rows.slice(0, limit).map((row) => new Edge(row, member(row), memberCursor));
  const allowed = listing ? allowedMemberFields(caller.principal, newest, asked.fields) : [];
  deps.audit.record({
    action: 'audience.queried',
    ...auditCaller(caller.principal, caller.requestId),
    purpose: purpose.newest.key,
    decision: 'ALLOW',
    fieldsRead: audienceFieldsRead(edges.length, allowed, filter),
    fieldsDenied: listing ? asked.fields.filter((field) => !allowed.includes(field)) : [],
    detail: { members: edges.length, filter, first: limit, ...saved },
  });
  return {
    edges,
    pageInfo: { hasNextPage: rows.length > limit, endCursor: edges.at(-1)?.cursor ?? null },
    count: () => counting ?? count(),
  };
}
