import { sql, type Kysely } from 'kysely';

// Sub-agents expire no later than their first ancestor to expire. Frozen: never import from src/.
//
// Registration refuses a sub-agent that would outlive an ancestor: it could never act once that
// ancestor expired, yet read ACTIVE and had no expiry finding in the access review. Sub-agents
// registered before that check may still have no expiry, or a later one: each gets the earliest
// expiry of its lineage (`ancestor_ids`, set once at registration), which is when it stopped
// being able to act anyway. Nothing else changes, so there is nothing to undo.

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    update agents a set expires_at = lineage.earliest
    from (
      select c.id, min(p.expires_at) as earliest
      from agents c join agents p on p.id = any (c.ancestor_ids)
      where p.expires_at is not null
      group by c.id
    ) lineage
    where a.id = lineage.id and (a.expires_at is null or a.expires_at > lineage.earliest)
  `.execute(db);
}

export async function down(): Promise<void> {}
