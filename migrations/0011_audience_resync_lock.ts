import { sql, type Kysely } from 'kysely';

// Serializes the rebuilds of one user's audience rows. Frozen: never import from src/.
//
// audience_resync deletes a user's rows, then inserts them again from consents, users and orders.
// Two transactions rebuilding the same user at once (a profile update and a withdrawal, say) raced
// under READ COMMITTED: the second one's delete waited for the first, then skipped the row the
// first had deleted without seeing the one it had inserted, and inserted nothing of its own, so the
// first one's row stayed for a consent already withdrawn. Now each rebuild first takes a lock per
// user (in id order, so two rebuilds of many users cannot deadlock on them) held to the end of its
// transaction: the second rebuild starts after the first commits, and its statements see all of it.

const BODY = sql.raw(`
      delete from audience_members where user_id = any(ids);
      insert into audience_members (purpose, user_id, consent_id, expires_at, country, locale, loyalty_tier, loyalty_points,
          birthdate, signed_up_at, interests, channels, order_count, order_spend_minor, last_order_at)
        select c.purpose, c.user_id, c.id, c.expires_at, u.country, u.locale, u.loyalty_tier, u.loyalty_points,
          u.birthdate, u.created_at,
          array(select jsonb_array_elements_text(case when jsonb_typeof(u.preferences->'interests') = 'array' then u.preferences->'interests' else '[]' end)),
          array(select jsonb_array_elements_text(case when jsonb_typeof(u.preferences->'channels') = 'array' then u.preferences->'channels' else '[]' end)),
          o.n, o.spend, o.last
        from consents c
        join users u on u.id = c.user_id
        cross join lateral (select count(*)::int as n, coalesce(sum(total_minor), 0)::bigint as spend, max(placed_at) as last
          from orders where user_id = c.user_id) o
        where c.user_id = any(ids) and c.status = 'active' and c.agent_id is null and u.status = 'active';`);

export async function up(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function audience_resync(ids text[]) returns void language plpgsql as $$
    begin
      perform pg_advisory_xact_lock(hashtext('audience:' || id)) from (select distinct unnest(ids) as id order by 1) locked;
      ${BODY}
    end
    $$`.execute(db);
}

export async function down(db: Kysely<any>): Promise<void> {
  await sql`
    create or replace function audience_resync(ids text[]) returns void language plpgsql as $$
    begin
      ${BODY}
    end
    $$`.execute(db);
}
