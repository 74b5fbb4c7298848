import type { GraphQLResolveInfo } from 'graphql';
import { parseResolveInfo, type ResolveTree } from 'graphql-parse-resolve-info';
import type { Selectable } from 'kysely';
import type { DataCategory } from '../authz/scopes.js';
import type { UsersTable } from '../db/database.js';
import { showPreferences } from '../identity/preferences.js';

/**
 * A member's row as a page reads it: the id, the `users` columns of the fields it shows, and the
 * purpose version of its consent when the page reads it.
 */
export type MemberRow = { readonly id: string; readonly policy_version?: string } & Partial<Selectable<UsersTable>>;

type Column = keyof Selectable<UsersTable>;

interface MemberFieldSpec {
  /** The data category whose scope (and purpose coverage) the field needs. */
  readonly category: DataCategory;
  /** The `users` columns it is read from: only these are selected for a page that shows it. */
  readonly columns: readonly Column[];
  readonly read: (row: MemberRow) => unknown;
}

/**
 * Every field an audience member can show, with its data category and where it comes from: the
 * one table that the GraphQL type, the column list of a page and the export all follow.
 */
export const MEMBER_FIELDS = {
  email: { category: 'contact', columns: ['email'], read: (r) => r.email },
  emailVerified: { category: 'contact', columns: ['email_verified'], read: (r) => r.email_verified },
  phone: { category: 'contact', columns: ['phone'], read: (r) => r.phone },
  givenName: { category: 'identity', columns: ['given_name'], read: (r) => r.given_name },
  familyName: { category: 'identity', columns: ['family_name'], read: (r) => r.family_name },
  birthdate: { category: 'identity', columns: ['birthdate'], read: (r) => r.birthdate },
  locale: { category: 'profile', columns: ['locale'], read: (r) => r.locale },
  country: { category: 'profile', columns: ['country'], read: (r) => r.country },
  createdAt: { category: 'profile', columns: ['created_at'], read: (r) => r.created_at },
  address: { category: 'address', columns: ['address'], read: (r) => r.address },
  preferences: { category: 'preferences', columns: ['preferences'], read: (r) => showPreferences(r.preferences!) },
  loyalty: { category: 'loyalty', columns: ['loyalty_tier', 'loyalty_points'], read: (r) => ({ tier: r.loyalty_tier ?? null, points: r.loyalty_points! }) },
} as const satisfies Record<string, MemberFieldSpec>;

export type MemberField = keyof typeof MEMBER_FIELDS;

export const MEMBER_FIELD_NAMES = Object.keys(MEMBER_FIELDS) as MemberField[];

/** The `users` columns that showing these fields reads, without repeats. */
export function columnsOf(fields: Iterable<MemberField>): Column[] {
  const columns = new Set<Column>();
  for (const field of fields) for (const column of MEMBER_FIELDS[field].columns) columns.add(column);
  return [...columns];
}

/**
 * What a query asks of an audience connection: the member fields its nodes show, whether it
 * lists members at all (`edges` or `pageInfo`), and whether it counts.
 */
export interface AudienceRequest {
  readonly fields: readonly MemberField[];
  /** How many times the answer shows each of those fields of a member: more than once under aliases. */
  readonly answers: Readonly<Partial<Record<MemberField, number>>>;
  readonly page: boolean;
  readonly totalCount: boolean;
}

/** All an audience connection can be asked for: what is read when the query's selection is not known. */
export const EVERYTHING: AudienceRequest = Object.freeze({ fields: MEMBER_FIELD_NAMES, answers: Object.fromEntries(MEMBER_FIELD_NAMES.map((field) => [field, 1])), page: true, totalCount: true });

/**
 * What this request selects of the audience connection being resolved: the member fields under
 * `edges { node { … } }` and how many times each, whether it selects `edges` or `pageInfo`, and
 * `totalCount` (fragments, aliases, `@include` and `@skip` followed).
 * Everything when the selection cannot be read, so a page never lacks what its query asks for.
 */
export function readAudienceRequest(info: GraphQLResolveInfo): AudienceRequest {
  const tree = parseResolveInfo(info) as ResolveTree | null;
  if (!tree) return EVERYTHING;
  const answers: Partial<Record<string, number>> = {};
  for (const edges of children(tree, 'edges')) for (const node of children(edges, 'node')) for (const field of children(node)) answers[field.name] = (answers[field.name] ?? 0) + 1;
  const fields = MEMBER_FIELD_NAMES.filter((field) => answers[field] !== undefined);
  return {
    fields,
    answers: Object.fromEntries(fields.map((field) => [field, answers[field]])),
    page: children(tree, 'edges').length > 0 || children(tree, 'pageInfo').length > 0,
    totalCount: children(tree, 'totalCount').length > 0,
  };
}

/** The child fields of `tree` (named `name`, when given), whatever their type or alias. */
function children(tree: ResolveTree, name?: string): ResolveTree[] {
  return Object.values(tree.fieldsByTypeName).flatMap((fields) => Object.values(fields).filter((f) => name === undefined || f.name === name));
}
