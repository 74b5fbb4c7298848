import type { Db } from '../db/connect.js';

export interface SigningKeyRow {
  readonly kid: string;
  readonly alg: string;
  readonly publicJwk: Record<string, unknown>;
  readonly privateKeyEncrypted: Buffer;
  readonly createdAt: Date;
  readonly retiredAt: Date | null;
}

/** The signing key and every retired key retired after `publishedSince`, newest first. */
export async function findPublishedKeys(db: Db, publishedSince: Date): Promise<SigningKeyRow[]> {
  const rows = await db
    .selectFrom('signing_keys')
    .selectAll()
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', publishedSince)]))
    .orderBy('created_at', 'desc')
    .execute();
  return rows.map((row) => ({
    kid: row.kid,
    alg: row.alg,
    publicJwk: row.public_jwk,
    privateKeyEncrypted: row.private_key_encrypted,
    createdAt: row.created_at,
    retiredAt: row.retired_at,
  }));
}

/** Whether `kid` is a key that signs, or was retired after `retiredSince`. */
export async function isKeyAcceptedSince(db: Db, kid: string, retiredSince: Date): Promise<boolean> {
  const row = await db
    .selectFrom('signing_keys')
    .select('kid')
    .where('kid', '=', kid)
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', retiredSince)]))
    .executeTakeFirst();
  return row !== undefined;
}

/** Inserts a key as the signing key; resolves to false when another one already signs. */
export async function insertSigningKey(
  db: Db,
  key: { kid: string; alg: string; publicJwk: Record<string, unknown>; privateKeyEncrypted: Buffer; now: Date },
): Promise<boolean> {
  const inserted = await db
    .insertInto('signing_keys')
    .values({
      kid: key.kid,
      alg: key.alg,
      public_jwk: JSON.stringify(key.publicJwk),
      private_key_encrypted: key.privateKeyEncrypted,
      created_at: key.now,
    })
    .onConflict((oc) => oc.doNothing())
    .returning('kid')
    .executeTakeFirst();
  return inserted !== undefined;
}

/** Every key that signs, or would sign, past `at` signs until `at`. */
export async function retireSigningKeys(db: Db, at: Date): Promise<void> {
  await db
    .updateTable('signing_keys')
    .set({ retired_at: at })
    .where((eb) => eb.or([eb('retired_at', 'is', null), eb('retired_at', '>', at)]))
    .execute();
}
