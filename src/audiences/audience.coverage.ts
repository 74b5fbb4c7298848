import type { FieldRef } from '../authz/scopes.js';
import { consentCovers, type ConsentedCoverage, type Purpose } from '../consent/purposes.js';
import { MEMBER_FIELDS, type MemberField } from './audience.fields.js';

/** The purpose as one member shows it: its key, and what the member's consent covers of it. */
export interface MemberPurpose {
  readonly key: string;
  readonly coverage: ConsentedCoverage;
}

/**
 * A purpose as an audience decides it. A consent keeps the version it was given under, and a
 * member shows a field only when both that version and the newest cover it: a new version that
 * narrows the purpose narrows every member at once, one that widens it widens only the members
 * who consented to it (src/consent/purposes.ts `consentCovers`).
 */
export interface AudiencePurpose {
  readonly newest: Purpose;
  /** One object per version, shared by every member whose consent was given under it. */
  readonly byVersion: ReadonlyMap<string, MemberPurpose>;
}

/** @param versions every version of the purpose, newest first (at least one). */
export function audiencePurposeOf(versions: readonly Purpose[]): AudiencePurpose {
  const newest = versions[0]!;
  const byVersion = new Map(versions.map((v): [string, MemberPurpose] => [v.version, { key: newest.key, coverage: { given: v.dataCategories, newest: newest.dataCategories } }]));
  return { newest, byVersion };
}

/** The purpose of a member whose consent names a version the registry does not hold: it covers nothing. */
export const coversNothing = (purpose: AudiencePurpose): MemberPurpose => ({ key: purpose.newest.key, coverage: { given: null, newest: purpose.newest.dataCategories } });

const readScope = (ref: FieldRef) => `${ref.category}.${ref.field}:read`;

/**
 * The versions whose members' consents cover every one of these fields, or undefined when all
 * versions' do. What a filter on those fields must keep its selection to: a member whose consent
 * does not cover a field must not be selected on it, as its value must not be shown.
 */
export function versionsCovering(purpose: AudiencePurpose, refs: readonly FieldRef[]): string[] | undefined {
  const covering = [...purpose.byVersion].filter(([, member]) => refs.every((ref) => consentCovers(member.coverage, readScope(ref)))).map(([version]) => version);
  return covering.length === purpose.byVersion.size ? undefined : covering;
}

/** Versions whose members show the same of some fields, and which of them they show. */
export interface VersionGroup {
  readonly versions: readonly string[];
  readonly fields: readonly MemberField[];
}

/**
 * The purpose's versions grouped by which of `fields` their members' consents cover. One group
 * (the rule while no version changed what the purpose covers) means every member shows the same,
 * so a page or an export need not read each member's version.
 */
export function groupVersions(purpose: AudiencePurpose, fields: readonly MemberField[]): VersionGroup[] {
  const groups = new Map<string, { versions: string[]; fields: MemberField[] }>();
  for (const [version, member] of purpose.byVersion) {
    const shown = fields.filter((field) => consentCovers(member.coverage, readScope({ category: MEMBER_FIELDS[field].category, field })));
    const key = shown.join();
    const group = groups.get(key);
    if (group) group.versions.push(version);
    else groups.set(key, { versions: [version], fields: shown });
  }
  return [...groups.values()];
}
