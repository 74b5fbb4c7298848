import { hkdfSync } from 'node:crypto';
import { calculateJwkThumbprint, exportJWK, exportPKCS8, generateKeyPair, importJWK, importPKCS8, type JWK } from 'jose';
import { sql } from 'kysely';
import { auditInTransaction, SYSTEM_ACTOR } from '../audit/audit.service.js';
import type { Db } from '../db/connect.js';
import type { Clock } from '../shared/clock.js';
import type { Logger } from '../shared/logger.js';
import { open, seal } from './key-encryption.js';
import { acceptedForMs, JWKS_MAX_AGE_SECONDS, publishedUntil, RELOAD_EVERY_MS, signedUntil, signingSchedule } from './key-schedule.js';
import { findPublishedKeys, insertSigningKey, isKeyAcceptedSince, retireSigningKeys, type SigningKeyRow } from './keys.queries.js';

export type { SigningKeyRow } from './keys.queries.js';

/** The one signature algorithm of the hub's tokens and receipts; verification pins it. */
export const SIGNING_ALG = 'ES256';

type Key = Awaited<ReturnType<typeof importPKCS8>>;

export interface SigningKey {
  readonly kid: string;
  readonly privateKey: Key;
}

/** A key that signs, or will: until `until`, when the next one takes over; the newest has none. */
interface ScheduledKey extends SigningKey {
  readonly until: Date | undefined;
}

/** A public key that verifies access tokens: the signing key, or a retired one until its `acceptedUntil`. */
export interface VerificationKey {
  readonly key: Key;
  readonly acceptedUntil: Date | undefined;
  /**
   * For a retired key, the latest `iat` of a token it may have signed (`signedUntil`): a later one
   * was signed by whoever else holds the key, as after `hub keys rotate --now` for a leaked key.
   */
  readonly signedUntil: Date | undefined;
}

interface KeySet {
  /** Oldest first: the first whose `until` has not come signs. */
  readonly signing: readonly ScheduledKey[];
  readonly verification: ReadonlyMap<string, VerificationKey>;
  /** The public keys of `verification`, each until its acceptance ends: what `/jwks.json` publishes. */
  readonly jwks: readonly PublishedKey[];
  /** Every key ever made: what `/receipts/jwks.json` publishes. */
  readonly receiptJwks: KeySetDocument;
}

/** A public key of `/jwks.json`, published until `acceptedUntil` (none for a key that signs now or will). */
interface PublishedKey {
  readonly jwk: JWK;
  readonly acceptedUntil: Date | undefined;
}

/** An RFC 7517 JWK Set. */
export interface KeySetDocument {
  readonly keys: readonly JWK[];
}

/** A failed reread of stale keys is retried no sooner than this. */
const FAILED_RELOAD_RETRY_MS = 5_000;

/**
 * The signing keys, held in memory and reread from the database now and then. Two published sets,
 * on purpose. Tokens (access and payment tokens) are verified only with the keys that sign now or
 * will (one published ahead) and retired keys until their `publishedUntil` (past the longest
 * lifetime of a token they signed), and `/jwks.json` publishes exactly those: a resource server
 * that verifies tokens offline stops trusting a retired key when the hub does, which is what
 * `hub keys rotate --now` is for when a key may have leaked. Consent receipts live for years, so
 * `/receipts/jwks.json` publishes every key that ever signed, for them only.
 */
export class KeyStore {
  private loadedAt = 0;
  private lastReloadTry = 0;
  private reloading: Promise<void> | undefined;
  /** When the first of the rereads failing since the last that worked began, by `Date.now()`. */
  private failingSince: number | undefined;
  /** Rereads the keys every RELOAD_EVERY_MS / 2; never keeps the process alive. */
  private readonly rereads = setInterval(() => this.reload().catch(() => {}), RELOAD_EVERY_MS / 2).unref();
  /**
   * The MAC key of refresh tokens' names (src/oauth/refresh-tokens.ts), derived from the
   * key-encryption key (HKDF-SHA256, RFC 5869): every instance has it, and the database alone
   * does not.
   */
  readonly refreshTokenKey: Buffer;

  private constructor(
    private readonly db: Db,
    private readonly kek: Buffer,
    private readonly clock: Clock,
    private readonly retentionSeconds: number,
    private readonly logger: Pick<Logger, 'info' | 'warn'>,
    private keys: KeySet,
  ) {
    this.refreshTokenKey = Buffer.from(hkdfSync('sha256', kek, Buffer.alloc(0), 'hub refresh-token names', 32));
  }

  /**
   * Loads the keys, generating the first signing key on a database that has none, and rereads
   * them on a timer until `close`. A reread that fails is logged at warn, once until one works
   * again, which is logged at info.
   */
  static async open(db: Db, kek: Buffer, clock: Clock, retentionSeconds: number, logger: Pick<Logger, 'info' | 'warn'>): Promise<KeyStore> {
    let rows = await findAllSigningKeys(db);
    if (!rows.some((row) => row.retiredAt === null)) {
      // Two instances starting together may both try; the one-signing-key index keeps one.
      await addSigningKey(db, kek, clock.now());
      rows = await findAllSigningKeys(db);
    }
    const store = new KeyStore(db, kek, clock, retentionSeconds, logger, await toKeySet(rows, kek, clock.now(), retentionSeconds));
    store.loadedAt = Date.now();
    return store;
  }

  /**
   * The key new tokens are signed with now (by the clock): a key published ahead of its use takes
   * over when its time comes, with no reread. At most RELOAD_EVERY_MS behind a rotation made
   * elsewhere, as `publishedUntil` allows, since the keys are reread on a timer (see `open`). Not
   * reread here: tokens and receipts are signed inside transactions, and a reread waiting for a
   * connection of its own could wait on them.
   */
  signingKey(): SigningKey {
    const now = this.clock.now();
    return this.keys.signing.find((key) => key.until === undefined || now < key.until)!;
  }

  /**
   * The public key for `kid`, with the latest issue time of what it signed if it is retired
   * (`signedUntil`), if access tokens signed with it are accepted now (by the clock): a
   * key that signs now or will, or one retired less than `publishedUntil` ago, which is what
   * `hub keys rotate` prints. Stale keys are reread first, so a rotation made elsewhere holds here
   * too, even on an instance that signs nothing. A kid this instance does not hold is looked up by
   * itself, and the keys reread only when the database holds it as accepted: a made-up kid, which
   * anyone can send, costs one indexed read and never holds up a key rotated in elsewhere. That
   * reread is a new one: one already under way (the timer's) may have read the keys before the kid
   * was stored. Never throws.
   */
  async verificationKey(kid: string): Promise<VerificationKey | undefined> {
    await this.rereadIfStale();
    let known = this.keys.verification.get(kid);
    const acceptedSince = new Date(this.clock.now().getTime() - acceptedForMs(this.retentionSeconds));
    if (!known && (await isKeyAcceptedSince(this.db, kid, acceptedSince).catch(() => false))) {
      await this.reloading?.catch(() => {});
      await this.reload().catch(() => {});
      known = this.keys.verification.get(kid);
    }
    return known && (known.acceptedUntil === undefined || this.clock.now() < known.acceptedUntil) ? known : undefined;
  }

  /**
   * The RFC 7517 key set of `/jwks.json`: the keys that verify tokens (see the class comment), as
   * of the last reread, at most RELOAD_EVERY_MS ago, less those whose acceptance has ended since
   * (by the clock, as `verificationKey` judges): a verifier that fetches the set then must not go
   * on trusting for its max-age a key the hub refuses, while the keys cannot be reread.
   */
  jwks(): KeySetDocument {
    const now = this.clock.now();
    const published = this.keys.jwks.filter(({ acceptedUntil }) => acceptedUntil === undefined || now < acceptedUntil);
    return Object.freeze({ keys: Object.freeze(published.map(({ jwk }) => jwk)) });
  }

  /**
   * How long, in seconds, the set `jwks` answers now may be kept (its `Cache-Control: max-age`):
   * JWKS_MAX_AGE_SECONDS, cut to when the first retired key in it stops being accepted, and to the
   * token lifetime, for which a key retired elsewhere just after the fetch stays accepted past the
   * reread that shows it here. A verifier that keeps the set so never trusts a key the hub refuses.
   */
  jwksMaxAge(): number {
    const now = this.clock.now().getTime();
    const ends = this.keys.jwks.flatMap(({ acceptedUntil }) => (acceptedUntil && now < acceptedUntil.getTime() ? [acceptedUntil.getTime() - now] : []));
    return Math.floor(Math.min(JWKS_MAX_AGE_SECONDS * 1_000, this.retentionSeconds * 1_000, ...ends) / 1_000);
  }

  /** The RFC 7517 key set of `/receipts/jwks.json`: every key that ever signed, as of the last reread. */
  receiptJwks(): KeySetDocument {
    return this.keys.receiptJwks;
  }

  /** Stops rereading the keys. */
  close(): void {
    clearInterval(this.rereads);
  }

  async reload(): Promise<void> {
    this.reloading ??= (async () => {
      this.lastReloadTry = Date.now();
      try {
        this.keys = await toKeySet(await findAllSigningKeys(this.db), this.kek, this.clock.now(), this.retentionSeconds);
        if (this.failingSince !== undefined) this.logger.info(`keys: the signing keys are reread again, after failing for ${Math.round((Date.now() - this.failingSince) / 1_000)} s`);
        this.failingSince = undefined;
        this.loadedAt = Date.now();
      } catch (error) {
        if (this.failingSince === undefined) {
          this.failingSince = this.lastReloadTry;
          const age = Math.round((Date.now() - this.loadedAt) / 1_000);
          this.logger.warn(
            { reason: error instanceof Error ? error.message : String(error) },
            `keys: rereading the signing keys failed; signing and verifying with those read ${age} s ago, blind to rotations made since, and retrying every ${RELOAD_EVERY_MS / 2_000} s`,
          );
        }
        throw error;
      } finally {
        this.reloading = undefined;
      }
    })();
    return this.reloading;
  }

  /**
   * Joins or starts a reread of keys older than RELOAD_EVERY_MS, unless one failed within
   * FAILED_RELOAD_RETRY_MS: while the database is unreachable, requests are not each held up by a
   * reread bound to fail. Never throws.
   */
  private async rereadIfStale(): Promise<void> {
    if (Date.now() - this.loadedAt <= RELOAD_EVERY_MS) return;
    if (!this.reloading && Date.now() - this.lastReloadTry < FAILED_RELOAD_RETRY_MS) return;
    await this.reload().catch(() => {});
  }
}

/**
 * Adds a new signing key, published at once, that signs from `signsFrom` (`now` unless published
 * ahead, PUBLISHED_AHEAD_MS), in one transaction: every key that would sign past then signs until
 * then, so a rotation `signsFrom` now also cuts short one published ahead earlier. A retired key
 * stays published until the tokens it signed have expired. Resolves to the new key's id.
 */
export async function rotateSigningKey(db: Db, kek: Buffer, now: Date, signsFrom = now): Promise<string> {
  return db.transaction().execute(async (tx) => {
    // Concurrent rotations take turns, so each retires the key the previous one added.
    await sql`select pg_advisory_xact_lock(hashtext('hub.signing-keys'))`.execute(tx);
    await retireSigningKeys(tx, signsFrom);
    const kid = await addSigningKey(tx, kek, now);
    if (!kid) throw new Error('another signing key was added at the same time; try again');
    await auditInTransaction(tx, { action: 'key.rotated', actor: SYSTEM_ACTOR, decision: 'ALLOW', detail: { kid, signsFrom: signsFrom.toISOString() } }, now);
    return kid;
  });
}

/**
 * Generates an ES256 key, its id the RFC 7638 thumbprint, and stores it sealed. Resolves to its
 * id, or undefined when another signing key was stored first.
 */
async function addSigningKey(db: Db, kek: Buffer, now: Date): Promise<string | undefined> {
  const { publicKey, privateKey } = await generateKeyPair(SIGNING_ALG, { extractable: true });
  const publicJwk = await exportJWK(publicKey);
  const kid = await calculateJwkThumbprint(publicJwk);
  const pkcs8 = Buffer.from(await exportPKCS8(privateKey));
  const inserted = await insertSigningKey(db, {
    kid,
    alg: SIGNING_ALG,
    publicJwk: { ...publicJwk, kid, alg: SIGNING_ALG, use: 'sig' },
    privateKeyEncrypted: seal(kek, pkcs8, kid),
    now,
  });
  return inserted ? kid : undefined;
}

/** Every signing key ever made, newest first: each is published for the receipts it signed, which live on. */
export function findAllSigningKeys(db: Db): Promise<SigningKeyRow[]> {
  return findPublishedKeys(db, new Date(0));
}

/**
 * `rows` are every key, newest first; all go into the receipts' JWKS, into signing those that sign
 * now or later (a retirement still to come is when the next key takes over), and into verification
 * and the JWKS those and the retired keys still accepted at `now`, each with the end of its
 * acceptance.
 */
async function toKeySet(rows: readonly SigningKeyRow[], kek: Buffer, now: Date, retentionSeconds: number): Promise<KeySet> {
  if (!rows.some((row) => row.retiredAt === null)) throw new Error('no signing key: run the hub once, or `hub keys rotate`, to create one');
  const signing = await Promise.all(
    signingSchedule(rows, now).map(async (row) => ({
      kid: row.kid,
      privateKey: await importPKCS8(open(kek, row.privateKeyEncrypted, row.kid).toString(), SIGNING_ALG),
      until: row.retiredAt ?? undefined,
    })),
  );
  const verification = new Map<string, VerificationKey>();
  const accepted: PublishedKey[] = [];
  for (const row of rows) {
    const acceptedUntil = row.retiredAt === null ? undefined : publishedUntil(row.retiredAt, retentionSeconds);
    if (acceptedUntil && acceptedUntil <= now) continue;
    accepted.push({ jwk: Object.freeze(row.publicJwk as JWK), acceptedUntil });
    verification.set(row.kid, {
      key: (await importJWK(row.publicJwk as JWK, SIGNING_ALG)) as Key,
      acceptedUntil,
      signedUntil: row.retiredAt === null ? undefined : signedUntil(row.retiredAt),
    });
  }
  const keySet = (published: readonly SigningKeyRow[]): KeySetDocument => Object.freeze({ keys: Object.freeze(published.map((row) => Object.freeze(row.publicJwk as JWK))) });
  return { signing, verification, jwks: accepted, receiptJwks: keySet(rows) };
}
