import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { isDataScope } from '../authz/scopes.js';
import type { Db } from '../db/connect.js';
import type { Context } from '../graphql/context.js';
import { findLatestPurposes, findPurposesAt } from './purpose.queries.js';

/** The six lawful bases of GDPR Art. 6(1). */
export const LAWFUL_BASES = ['consent', 'contract', 'legitimate_interest', 'legal_obligation', 'vital_interest', 'public_task'] as const;
export type LawfulBasis = (typeof LAWFUL_BASES)[number];

/** A purpose a consent is given for (API.md `Purpose`), one version of it from the registry. */
export interface Purpose {
  readonly key: string;
  readonly title: string;
  readonly description: string;
  readonly lawfulBasis: LawfulBasis;
  /** What it covers: whole categories (`contact`) or single fields (`contact.email`). */
  readonly dataCategories: readonly string[];
  readonly version: string;
  readonly noticeUrl: string;
  readonly noticeText: string;
  /** SHA-256 of `noticeText`, hex. */
  readonly noticeSha256: string;
  readonly language: string;
  readonly jurisdiction: string;
}

/**
 * The purpose with this key as the registry defines it now (its newest version); undefined for
 * an unknown key.
 */
export async function findPurpose(db: Db, key: string): Promise<Purpose | undefined> {
  return (await findLatestPurposes(db, [key]))[0];
}

/** What names the purpose a consent was given under: its key and `policyVersion`. */
type ConsentedTo = { readonly purpose: string; readonly policyVersion: string };
const consentedKey = (consent: ConsentedTo) => `${consent.purpose}@${consent.policyVersion}`;

/**
 * The purpose each consent was given under, in that version: what the person agreed to, not what
 * the registry says now; the newest version only for a version the registry no longer holds, and
 * none for a key it does not hold at all. At most two queries, however many consents.
 */
export async function findConsentedPurposes(db: Db, consents: readonly ConsentedTo[]): Promise<(Purpose | undefined)[]> {
  const wanted = consents.map((c) => ({ key: c.purpose, version: c.policyVersion }));
  const given = new Map((await findPurposesAt(db, wanted)).map((p) => [consentedKey({ purpose: p.key, policyVersion: p.version }), p]));
  const unheld = consents.filter((c) => !given.has(consentedKey(c))).map((c) => c.purpose);
  const newest = new Map((await findLatestPurposes(db, [...new Set(unheld)])).map((p) => [p.key, p]));
  return consents.map((c) => given.get(consentedKey(c)) ?? newest.get(c.purpose));
}

/**
 * The purpose a consent was given under (`findConsentedPurposes`), one batch per request tick.
 * The versions come from the purpose registry's cache, which holds every version of a purpose: a
 * list of consents then costs no statement for their purposes. A version it does not hold (defined
 * on another instance, whose notification has not arrived yet) is read from the database.
 */
export const consentedPurposeLoader = createContextCache((ctx: Context) => {
  const loader = new DataLoader<ConsentedTo, Purpose | null, string>(
    async (consents) => {
      const versions = new Map(await Promise.all([...new Set(consents.map((c) => c.purpose))].map(async (key) => [key, await ctx.services.purposes.versions(key)] as const)));
      const cached = consents.map((c) => versions.get(c.purpose)!.find((p) => p.version === c.policyVersion));
      const unheld = consents.filter((_, i) => !cached[i]);
      const read = new Map((await findConsentedPurposes(ctx.services.db, unheld)).map((p, i) => [consentedKey(unheld[i]!), p]));
      return consents.map((c, i) => cached[i] ?? read.get(consentedKey(c)) ?? null);
    },
    { cacheKeyFn: consentedKey },
  );
  return async (consent: ConsentedTo): Promise<Purpose> => (await loader.load(consent))!;
});

/**
 * True when `scope` is a data scope whose category, or whose single field, the purpose covers.
 * The one place that decides coverage: consents, the per-field decision and audiences ask it.
 */
export function purposeCovers(purpose: Pick<Purpose, 'dataCategories'>, scope: string): boolean {
  if (!isDataScope(scope)) return false;
  const target = scope.slice(0, scope.lastIndexOf(':'));
  const category = target.split('.')[0]!;
  return purpose.dataCategories.includes(category) || (target !== category && purpose.dataCategories.includes(target));
}

/**
 * What a consent covers of its purpose: the data categories of the version it was given under
 * (`given`) and of the newest version; null for a version the registry does not hold.
 */
export interface ConsentedCoverage {
  readonly given: readonly string[] | null;
  readonly newest: readonly string[] | null;
}

/**
 * True when a consent covers `scope` through its purpose: both the version it was given under and
 * the newest version cover it. A new version narrows every consent at once and widens none: what
 * it adds reaches only consents given under it, whose notice and receipt name it.
 */
export function consentCovers(coverage: ConsentedCoverage, scope: string): boolean {
  const { given, newest } = coverage;
  return given !== null && newest !== null && purposeCovers({ dataCategories: given }, scope) && purposeCovers({ dataCategories: newest }, scope);
}
