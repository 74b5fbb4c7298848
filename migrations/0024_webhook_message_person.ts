import { sql, type Kysely } from 'kysely';

// The person a webhook message is about, indexed. Frozen: never import from src/.
//
// An erasure ends the pending deliveries of messages about the person, and a redelivery is
// refused for one about a person since erased (src/webhooks/webhook-outbox.ts). A message names
// the person in its JSON body, as `data.userId`, or an agent's `data.ownerUserId`: without this
// index, finding theirs parsed the body of every message waiting, inside the erasure's
// transaction (200,000 deliveries waiting for a receiver that was down: half a second).

export async function up(db: Kysely<any>): Promise<void> {
  await sql`create index webhook_messages_person on webhook_messages ((coalesce(body::jsonb #>> '{data,userId}', body::jsonb #>> '{data,ownerUserId}')))`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`drop index webhook_messages_person`.execute(db);
}
