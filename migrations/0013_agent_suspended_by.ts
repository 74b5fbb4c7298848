import { sql, type Kysely } from 'kysely';

// Who suspended an agent. Frozen: never import from src/.
//
// An operator suspends an agent to stop it (a leaked secret, an agent misbehaving); its owner, a
// customer, must not be able to undo that. `suspended_by` records whose suspension it is, so that
// only an operator lifts an operator's, while an owner still lifts their own.

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .alterTable('agents')
    .addColumn('suspended_by', 'text', (c) => c.check(sql`suspended_by in ('operator', 'owner')`))
    .execute();
  // Who made the suspensions already in place is not recorded: only an operator lifts them.
  await db.updateTable('agents').set({ suspended_by: 'operator' }).where('status', '=', 'suspended').execute();
  await sql`alter table agents add constraint agents_suspended_by check ((status = 'suspended') = (suspended_by is not null))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`alter table agents drop constraint agents_suspended_by`.execute(db);
  await db.schema.alterTable('agents').dropColumn('suspended_by').execute();
}
