import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

// The purpose registry (seeded with the four default purposes), consent receipts, and approvals
// of payment actions. Frozen: never import from src/.
const ms = sql`timestamptz(3)`;

const NOTICE_BASE = 'https://hub.example/notices';

const DEFAULTS = [
  {
    key: 'support',
    title: 'Customer support',
    description: 'Answering your questions about your orders and your account.',
    lawful_basis: 'consent',
    data_categories: ['contact', 'orders'],
    notice: 'We use your contact details and your orders to answer your support requests. You can withdraw this consent at any time.',
  },
  {
    key: 'personalization',
    title: 'Personalization',
    description: 'Recommendations shaped by your preferences and what you bought.',
    lawful_basis: 'consent',
    data_categories: ['preferences', 'orders'],
    notice: 'We use your stated preferences and your orders to recommend products. You can withdraw this consent at any time.',
  },
  {
    key: 'email_marketing',
    title: 'Email marketing',
    description: 'News and offers by email, chosen by your preferences.',
    lawful_basis: 'consent',
    data_categories: ['profile', 'contact.email', 'preferences'],
    notice: 'We send you news and offers by email, chosen by your preferences. You can withdraw this consent at any time.',
  },
  {
    key: 'checkout',
    title: 'Checkout',
    description: 'Paying for an order and having it delivered.',
    lawful_basis: 'contract',
    data_categories: ['contact', 'address', 'payment'],
    notice: 'We use your contact details, address and payment method to take payment for and deliver your order.',
  },
];

export async function up(db: Kysely<any>): Promise<void> {
  // Every version of every purpose; a change is a new version, the old ones stay for the
  // consents and receipts that name them.
  await db.schema
    .createTable('purposes')
    .addColumn('key', 'text', (c) => c.notNull().check(sql`key ~ '^[a-z][a-z0-9_]{0,63}$'`))
    .addColumn('version', 'integer', (c) => c.notNull().check(sql`version >= 1`))
    .addColumn('title', 'text', (c) => c.notNull())
    .addColumn('description', 'text', (c) => c.notNull())
    .addColumn('lawful_basis', 'text', (c) =>
      c.notNull().check(sql`lawful_basis in ('consent', 'contract', 'legitimate_interest', 'legal_obligation', 'vital_interest', 'public_task')`),
    )
    .addColumn('data_categories', sql`text[]`, (c) => c.notNull())
    .addColumn('notice_url', 'text', (c) => c.notNull())
    .addColumn('notice_text', 'text', (c) => c.notNull())
    // SHA-256 of notice_text, hex: what a receipt names, so anyone can check the notice shown.
    .addColumn('notice_sha256', 'text', (c) => c.notNull())
    .addColumn('language', 'text', (c) => c.notNull().defaultTo('en'))
    .addColumn('jurisdiction', 'text', (c) => c.notNull().defaultTo('EU'))
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .addPrimaryKeyConstraint('purposes_pkey', ['key', 'version'])
    .execute();
  await db
    .insertInto('purposes')
    .values(
      DEFAULTS.map(({ notice, ...p }) => ({
        ...p,
        version: 1,
        notice_url: `${NOTICE_BASE}/${p.key}/1`,
        notice_text: notice,
        notice_sha256: createHash('sha256').update(notice).digest('hex'),
      })),
    )
    .execute();

  // The signed receipt of a consent (compact JWS), made when it is given.
  await db.schema.alterTable('consents').addColumn('receipt', 'text').execute();

  // Step-up approvals of payment actions: an agent asks, the user answers, the action uses it once.
  await db.schema
    .createTable('approvals')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('user_id', 'text', (c) => c.notNull().references('users.id'))
    .addColumn('agent_id', 'text', (c) => c.notNull().references('agents.id'))
    .addColumn('consent_id', 'text', (c) => c.references('consents.id'))
    // One RFC 9396 authorization_details entry: type, actions, amount, currency, description.
    .addColumn('authorization_details', 'jsonb', (c) => c.notNull())
    .addColumn('status', 'text', (c) => c.notNull().defaultTo('pending').check(sql`status in ('pending', 'approved', 'denied', 'used')`))
    .addColumn('created_at', ms, (c) => c.notNull())
    .addColumn('expires_at', ms, (c) => c.notNull())
    .addColumn('decided_at', ms)
    .addColumn('used_at', ms)
    .execute();
  await sql`create index approvals_user on approvals (user_id, created_at desc)`.execute(db);
  await sql`create index approvals_agent on approvals (agent_id, user_id) where status = 'approved'`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('approvals').execute();
  await db.schema.alterTable('consents').dropColumn('receipt').execute();
  await db.schema.dropTable('purposes').execute();
}
