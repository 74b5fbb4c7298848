import { sql, type Kysely } from 'kysely';

// An order change waits for the audience rebuild of its customer under way. Frozen: never import
// from src/.
//
// The orders triggers of migration 0006 rebuilt a customer's audience rows only when a committed
// row already existed, and took no lock before looking. A transaction that makes the customer a
// member (a consent to the company, a reactivation) writes their row with the order figures its
// statement saw; an order placed or deleted meanwhile, and committed before it, found no row to
// rebuild, so the row kept figures without that order until something else changed the customer.
// Now the triggers first take the lock every rebuild of that customer holds to its end (migration
// 0011), in id order as it does, and look for the row only then: an order change waits for a
// rebuild under way and then sees its row, or runs first and the rebuild waits for it and sees
// the order. It costs one lock per customer of the statement, as rebuilding the members among
// them already did: a statement must not change the orders of more customers than PostgreSQL's
// lock table holds (the seed loads its orders with the triggers off).

const EVENTS = ['insert', 'update', 'delete'] as const;

const lockFirst = sql.raw(`
      perform pg_advisory_xact_lock(hashtext('audience:' || id)) from (select distinct user_id as id from changed order by 1) locked;
      perform audience_resync(array(select distinct user_id from changed where exists (select 1 from audience_members m where m.user_id = changed.user_id)));`);

const lookFirst = sql.raw(`
      perform audience_resync(array(select distinct user_id from changed where exists (select 1 from audience_members m where m.user_id = changed.user_id)));`);

async function replace(db: Kysely<any>, body: ReturnType<typeof sql.raw>): Promise<void> {
  for (const event of EVENTS) {
    await sql`create or replace function ${sql.raw(`audience_on_orders_${event}`)}() returns trigger language plpgsql as $$
      begin
        ${body}
        return null;
      end
      $$`.execute(db);
  }
}

export async function up(db: Kysely<any>): Promise<void> {
  await replace(db, lockFirst);
}

export async function down(db: Kysely<any>): Promise<void> {
  await replace(db, lookFirst);
}
