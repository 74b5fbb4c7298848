import { hash } from 'node:crypto';
import { z } from 'zod';
import { auditCaller, auditInTransaction } from '../audit/audit.service.js';
import { isDataScope } from '../authz/scopes.js';
import type { Db } from '../db/connect.js';
import { NotifiedCache } from '../db/notified-cache.js';
import type { Listen } from '../db/notifications.js';
import type { Caller } from '../identity/identity.service.js';
import { locale } from '../identity/profile.input.js';
import type { Clock } from '../shared/clock.js';
import { parseInput, plainText } from '../shared/input.js';
import { hasUserInfo } from '../shared/url.js';
import { findLatestPurposes, findPurposeVersions, insertPurposeVersion, lockPurpose, notifyPurposesChanged, PURPOSES_CHANNEL } from './purpose.queries.js';
import { LAWFUL_BASES, type Purpose } from './purposes.js';

export type PurposeRegistry = ReturnType<typeof createPurposeRegistry>;

/**
 * The purposes the company defines, every version kept. Audiences read a purpose's versions on
 * every query, page and export, and operators change them now and then, so the versions of each
 * purpose are kept in memory (a NotifiedCache on `hub_purposes`): an audience query then costs
 * one round trip less. A new version reaches another instance's audiences when its notification
 * does (milliseconds, at most about 4 s); this instance's at once.
 * @param deps.listen LISTEN on the database; without it nothing is cached.
 */
export function createPurposeRegistry(deps: { db: Db; clock: Clock; listen?: Listen }) {
  const cache = new NotifiedCache<readonly Purpose[]>(PURPOSES_CHANNEL, deps.listen, { max: 1_000, ttlMs: 60_000 });
  return {
    /** Every version of the purpose with this key, newest first; empty for an unknown key. */
    async versions(key: string): Promise<readonly Purpose[]> {
      // Frozen: one array serves every request until the next change.
      const load = async () => {
        const versions = await findPurposeVersions(deps.db, key);
        return versions.length > 0 ? Object.freeze(versions.map(frozen)) : undefined;
      };
      return (await cache.get(key, load)) ?? [];
    },

    /** A new version of a purpose (definePurposeVersion), shown by this instance at once. @throws BadUserInputError naming the bad field. */
    async define(input: unknown, caller: Caller): Promise<Purpose> {
      const purpose = await definePurposeVersion(deps.db, input, caller, deps.clock.now());
      cache.clear();
      return purpose;
    },
  };
}

const frozen = (purpose: Purpose): Purpose => Object.freeze({ ...purpose, dataCategories: Object.freeze([...purpose.dataCategories]) });

const definePurposeSchema = z.object({
  key: z.string().regex(/^[a-z][a-z0-9_]{0,63}$/, 'must be lower case letters, digits and _'),
  title: plainText(200),
  description: plainText(2_000),
  lawfulBasis: z.enum(LAWFUL_BASES),
  dataCategories: z
    .array(z.string().max(64))
    .min(1)
    .max(32)
    .refine((list) => list.every((c) => isDataScope(`${c}:read`)), 'must name data categories or category.field'),
  // Shown to people as a link before they consent, and signed into every receipt as its
  // `policyUrl`: a page to read, never a `javascript:` or `data:` URL, nor one that names one host
  // before an `@` and opens another.
  noticeUrl: z
    .string()
    .max(2_000)
    .url()
    .refine((url) => !URL.canParse(url) || ['https:', 'http:'].includes(new URL(url).protocol), 'must be an http or https URL')
    .refine((url) => !URL.canParse(url) || !hasUserInfo(new URL(url)), 'must not carry a user name or password: it would show one host and open another'),
  // Shown to people as it is stored, and its SHA-256 signed into every receipt: text a person
  // sees as it is hashed, over several lines.
  noticeText: plainText(100_000, { lines: true }),
  // Stored, and signed into receipts, in canonical form, as a profile's locale.
  language: locale.nullish(),
  jurisdiction: plainText(35).nullish(),
});

/** A stored purpose's notice and language as `definePurposeVersion` takes them now: trimmed, in NFC, canonical. */
function asDefinedNow(purpose: Pick<Purpose, 'noticeText' | 'language'>): Pick<Purpose, 'noticeText' | 'noticeSha256' | 'language'> {
  const noticeText = purpose.noticeText.trim().normalize('NFC');
  const language = locale.safeParse(purpose.language);
  return { noticeText, noticeSha256: hash('sha256', noticeText, 'hex'), language: language.success ? language.data : purpose.language };
}

/**
 * The language and jurisdiction a definition gives, else those of the version before, else (for a
 * purpose's first version) English and the EU. Receipts sign both: a new version that changes a
 * title must not move every consent given under it to another jurisdiction.
 */
function localeOf(parsed: { language?: string | null; jurisdiction?: string | null }, before: Pick<Purpose, 'language' | 'jurisdiction'> | undefined): Pick<Purpose, 'language' | 'jurisdiction'> {
  return { language: parsed.language ?? before?.language ?? 'en', jurisdiction: parsed.jurisdiction ?? before?.jurisdiction ?? 'EU' };
}

/**
 * The purpose registry's one change: a new version of a purpose (or its first), announced to every
 * instance's cache when it commits. A definition equal to the newest version changes nothing.
 * Consents keep the version they were given under.
 * @throws BadUserInputError naming the bad field.
 */
async function definePurposeVersion(db: Db, input: unknown, caller: Caller, now: Date): Promise<Purpose> {
  const parsed = parseInput(definePurposeSchema, input);
  const next = {
    key: parsed.key,
    title: parsed.title,
    description: parsed.description,
    lawfulBasis: parsed.lawfulBasis,
    dataCategories: [...new Set(parsed.dataCategories)],
    noticeUrl: parsed.noticeUrl,
    noticeText: parsed.noticeText,
    noticeSha256: hash('sha256', parsed.noticeText, 'hex'),
  };
  return db.transaction().execute(async (tx) => {
    await lockPurpose(tx, next.key);
    const [current] = await findLatestPurposes(tx, [next.key]);
    // Compared as this definition would store it: one stored before notices were trimmed and
    // languages made canonical is the same purpose, not a new version of it.
    const stored = current && { ...current, ...asDefinedNow(current) };
    const defined = { ...next, ...localeOf(parsed, stored) };
    const same = stored && (Object.keys(defined) as (keyof typeof defined)[]).every((k) => JSON.stringify(stored[k]) === JSON.stringify(defined[k]));
    if (current && same) return current;
    const purpose = await insertPurposeVersion(tx, { ...defined, version: current ? Number(current.version) + 1 : 1 }, now);
    await auditInTransaction(
      tx,
      { action: 'purpose.defined', ...auditCaller(caller.principal, caller.requestId), purpose: purpose.key, decision: 'ALLOW', detail: { version: purpose.version, dataCategories: purpose.dataCategories } },
      now,
    );
    await notifyPurposesChanged(tx);
    return purpose;
  });
}
