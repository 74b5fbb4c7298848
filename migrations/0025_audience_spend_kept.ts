import { sql, type Kysely } from 'kysely';

// A member's spend counts only what the customer kept paid. Frozen: never import from src/.
//
// audience_resync (migration 0011) summed every order of the customer into order_spend_minor,
// so a customer whose only orders were cancelled or refunded matched "spent at least 500": spend
// now leaves those out (the orders stay counted, as orders placed, and so does the last one).
// The rows already written are put right where they differ.

const KEPT = `status not in ('cancelled', 'refunded')`;

const body = (spend: string) =>
  sql.raw(`
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
        cross join lateral (select count(*)::int as n, ${spend} as spend, max(placed_at) as last
          from orders where user_id = c.user_id) o
        where c.user_id = any(ids) and c.status = 'active' and c.agent_id is null and u.status = 'active';`);

const ALL = 'coalesce(sum(total_minor), 0)::bigint';
const KEPT_ONLY = `coalesce(sum(total_minor) filter (where ${KEPT}), 0)::bigint`;

async function resyncWith(db: Kysely<any>, spend: string): Promise<void> {
  await sql`
    create or replace function audience_resync(ids text[]) returns void language plpgsql as $$
    begin
      perform pg_advisory_xact_lock(hashtext('audience:' || id)) from (select distinct unnest(ids) as id order by 1) locked;
      ${body(spend)}
    end
    $$`.execute(db);
  // Only customers with a cancelled or refunded order can have a spend that differs.
  await sql`
    update audience_members m set order_spend_minor = s.spend
    from (select user_id, ${sql.raw(spend)} as spend from orders
          where user_id in (select user_id from orders where not (${sql.raw(KEPT)}))
          group by user_id) s
    where m.user_id = s.user_id and m.order_spend_minor <> s.spend`.execute(db);
}

export async function up(db: Kysely<any>): Promise<void> {
  await resyncWith(db, KEPT_ONLY);
}

export async function down(db: Kysely<any>): Promise<void> {
  await resyncWith(db, ALL);
}
