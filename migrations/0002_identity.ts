import { sql, type Kysely } from 'kysely';

// Customers and their 360° profile, signing keys, refresh tokens and sign-in throttling.
// Every customer-owned table carries user_id, so it can be distributed by it.
// Timestamps keep milliseconds, the precision of the JavaScript dates that carry them: a time
// read back and used as a keyset cursor then matches the row it came from exactly.
const ms = sql`timestamptz(3)`;

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('users')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('active').check(sql`status in ('active', 'suspended', 'erased')`))
    .addColumn('email', 'text')
    .addColumn('email_verified', 'boolean', (c) => c.notNull().defaultTo(false))
    .addColumn('password_hash', 'text')
    .addColumn('phone', 'text')
    .addColumn('given_name', 'text')
    .addColumn('family_name', 'text')
    .addColumn('birthdate', 'date')
    .addColumn('locale', 'text')
    .addColumn('country', 'text', (c) => c.check(sql`country ~ '^[A-Z]{2}$'`))
    .addColumn('address', 'jsonb')
    .addColumn('preferences', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('loyalty_tier', 'text')
    .addColumn('loyalty_points', 'integer', (c) => c.notNull().defaultTo(0).check(sql`loyalty_points >= 0`))
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('updated_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('last_login_at', ms)
    .execute();
  // One account per address, whatever its case.
  await sql`create unique index users_email_key on users (lower(email))`.execute(db);
  await sql`create index users_created_at_id on users (created_at, id)`.execute(db);

  await db.schema
    .createTable('orders')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('placed_at', ms, (c) => c.notNull())
    .addColumn('total_minor', 'bigint', (c) => c.notNull().check(sql`total_minor >= 0`))
    .addColumn('currency', 'text', (c) => c.notNull().check(sql`currency ~ '^[A-Z]{3}$'`))
    .addColumn('status', 'text', (c) => c.notNull().check(sql`status in ('pending', 'paid', 'shipped', 'delivered', 'cancelled', 'refunded')`))
    .addColumn('line_items', 'jsonb', (c) => c.notNull().defaultTo(sql`'[]'::jsonb`))
    .execute();
  await sql`create index orders_user_placed on orders (user_id, placed_at desc, id desc)`.execute(db);

  await db.schema
    .createTable('payment_methods')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('brand', 'text', (c) => c.notNull())
    // Never a card number: only the last four digits and the expiry are kept.
    .addColumn('last4', 'text', (c) => c.notNull().check(sql`last4 ~ '^[0-9]{4}$'`))
    .addColumn('exp_month', 'integer', (c) => c.notNull().check(sql`exp_month between 1 and 12`))
    .addColumn('exp_year', 'integer', (c) => c.notNull().check(sql`exp_year between 2000 and 2100`))
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
  await sql`create index payment_methods_user on payment_methods (user_id, created_at)`.execute(db);

  await db.schema
    .createTable('signing_keys')
    .addColumn('kid', 'text', (c) => c.primaryKey())
    .addColumn('alg', 'text', (c) => c.notNull())
    .addColumn('public_jwk', 'jsonb', (c) => c.notNull())
    // AES-256-GCM of the PKCS#8 private key: iv ‖ tag ‖ ciphertext, under HUB_KEY_ENCRYPTION_KEY.
    .addColumn('private_key_encrypted', 'bytea', (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    // Set when a newer key takes over signing; the key stays published until every token it signed has expired.
    .addColumn('retired_at', ms)
    .execute();
  // Exactly one key signs at a time; two instances starting at once cannot both add one.
  await sql`create unique index signing_keys_one_active on signing_keys ((true)) where retired_at is null`.execute(db);

  await db.schema
    .createTable('refresh_tokens')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('family_id', 'text', (c) => c.notNull())
    // SHA-256 of the opaque token: a 256-bit random value needs no slow hash.
    .addColumn('token_hash', 'bytea', (c) => c.notNull().unique())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id').onDelete('cascade'))
    .addColumn('client_id', 'text', (c) => c.notNull())
    .addColumn('scope', 'text', (c) => c.notNull())
    .addColumn('auth_time', ms, (c) => c.notNull())
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('rotated_at', ms)
    .addColumn('revoked_at', ms)
    .execute();
  await sql`create index refresh_tokens_family on refresh_tokens (family_id)`.execute(db);
  await sql`create index refresh_tokens_user on refresh_tokens (user_id)`.execute(db);

  // Failed sign-ins per account and per address, in a sliding window shared by every instance.
  await db.schema
    .createTable('sign_in_throttle')
    .addColumn('key', 'text', (c) => c.primaryKey())
    .addColumn('failures', 'integer', (c) => c.notNull())
    .addColumn('window_started_at', ms, (c) => c.notNull())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  for (const table of ['sign_in_throttle', 'refresh_tokens', 'signing_keys', 'payment_methods', 'orders', 'users']) {
    await db.schema.dropTable(table).execute();
  }
}
