import { createHash } from 'node:crypto';
import { sql, type Kysely } from 'kysely';

// A fifth default purpose, for offers chosen by what loyalty members are.
// Frozen: never import from src/.
//
// An audience filter selects only on fields its purpose covers, and none of the first four covers
// a loyalty tier, an age or orders together with the email address to send to: a marketing tool
// choosing by them needs a purpose a customer agreed to for that. Left alone where an operator
// already defined a purpose of this key.

const NOTICE = 'We send you offers by email chosen by your loyalty tier and points, your age, your orders and your preferences. You can withdraw this consent at any time.';

export async function up(db: Kysely<any>): Promise<void> {
  await db
    .insertInto('purposes')
    .values({
      key: 'loyalty_offers',
      version: 1,
      title: 'Loyalty offers',
      description: 'Offers by email for loyalty members, chosen by tier, age, orders and preferences.',
      lawful_basis: 'consent',
      data_categories: ['profile', 'contact.email', 'preferences', 'loyalty', 'identity.birthdate', 'orders'],
      notice_url: 'https://hub.example/notices/loyalty_offers/1',
      notice_text: NOTICE,
      notice_sha256: createHash('sha256').update(NOTICE).digest('hex'),
    })
    .onConflict((oc) => oc.doNothing())
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  // Consents keep the purpose version they were given under: remove it only if none names it.
  await sql`delete from purposes p where p.key = 'loyalty_offers' and p.version = 1 and p.notice_text = ${NOTICE}
    and not exists (select 1 from consents c where c.purpose = p.key)`.execute(db);
}
