import { sql, type Kysely } from 'kysely';

// Audiences: the consent state laid out for marketing selections, and saved audiences.
// Frozen: never import from src/.
//
// Why a table of its own: an audience is "users with a live consent to the company for purpose P,
// matching filter F". Joining `consents` to `users` for that reads two big relations and hashes one
// of them on every query (about 220 ms to count one country's opted-in users of a million). Here
// `audience_members` holds one row per live company consent of an active user, carrying the user
// attributes marketers filter on and per-user order stats, so an audience is a range of one
// narrow table: no join until the page's 1,000 rows fetch their profile by primary key.
//
// It is kept exact by statement-level triggers on consents, users and orders in the same
// transaction as the change: a withdrawal, suspension or erasure removes the rows before it
// commits, so the very next query (on any instance) no longer sees the user. Expiry is not a
// change of row, so `expires_at` is stored here and compared with now in every query.
const ms = sql`timestamptz(3)`;

/** What the filters read, carried in both indexes. */
const COVERED = 'expires_at, country, locale, loyalty_tier, loyalty_points, birthdate, signed_up_at, interests, channels, order_count, order_spend_minor, last_order_at';

export async function up(db: Kysely<any>): Promise<void> {
  await db.schema
    .createTable('audience_members')
    .addColumn('purpose', 'text', (c) => c.notNull())
    .addColumn('user_id', 'text', (c) => c.notNull())
    .addColumn('consent_id', 'text', (c) => c.notNull())
    .addColumn('expires_at', ms)
    .addColumn('country', 'text')
    .addColumn('locale', 'text')
    .addColumn('loyalty_tier', 'text')
    .addColumn('loyalty_points', 'integer', (c) => c.notNull())
    .addColumn('birthdate', 'date')
    .addColumn('signed_up_at', ms, (c) => c.notNull())
    .addColumn('interests', sql`text[]`, (c) => c.notNull())
    .addColumn('channels', sql`text[]`, (c) => c.notNull())
    .addColumn('order_count', 'integer', (c) => c.notNull())
    .addColumn('order_spend_minor', 'bigint', (c) => c.notNull())
    .addColumn('last_order_at', ms)
    .execute();
  // Both indexes carry every column a filter reads (INCLUDE), so a count or a page is an
  // index-only scan of one purpose's contiguous range, never a read of the table itself:
  // - the primary key walks a purpose in user-id order (keyset pages stop at their 1,000th match);
  // - (purpose, country, user_id) narrows the range to one country, the commonest selection.
  await sql`alter table audience_members add constraint audience_members_pkey primary key (purpose, user_id) include (${sql.raw(COVERED)})`.execute(db);
  await sql`create index audience_members_country on audience_members (purpose, country, user_id) include (${sql.raw(COVERED)})`.execute(db);
  await sql`create index audience_members_user on audience_members (user_id)`.execute(db);

  // Rebuilds the rows of these users from the source of truth; the one way rows are written.
  await sql`
    create function audience_resync(ids text[]) returns void language plpgsql as $$
    begin
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
        where c.user_id = any(ids) and c.status = 'active' and c.agent_id is null and u.status = 'active';
    end
    $$`.execute(db);

  // One function per table and event: a trigger with transition tables can have only one event.
  const triggers: [table: string, event: 'insert' | 'update' | 'delete', rows: string][] = [
    ['consents', 'insert', 'new table as changed'],
    ['consents', 'update', 'new table as changed'],
    ['consents', 'delete', 'old table as changed'],
    ['orders', 'insert', 'new table as changed'],
    ['orders', 'update', 'new table as changed'],
    ['orders', 'delete', 'old table as changed'],
  ];
  for (const [table, event, rows] of triggers) {
    const name = sql.raw(`audience_on_${table}_${event}`);
    // Orders change stats only: users without member rows (most order inserts of a seed) are skipped.
    const where = table === 'orders' ? sql.raw('where exists (select 1 from audience_members m where m.user_id = changed.user_id)') : sql.raw('');
    await sql`create function ${name}() returns trigger language plpgsql as $$
      begin
        perform audience_resync(array(select distinct user_id from changed ${where}));
        return null;
      end
      $$`.execute(db);
    await sql`create trigger ${name} after ${sql.raw(event)} on ${sql.table(table)} referencing ${sql.raw(rows)} for each statement execute function ${name}()`.execute(db);
  }
  // Users: only changes of what members carry (status, filter attributes), not sign-ins.
  await sql`create function audience_on_users_update() returns trigger language plpgsql as $$
    begin
      perform audience_resync(array(
        select n.id from new_users n join old_users o on o.id = n.id
        where (n.status, n.country, n.locale, n.loyalty_tier, n.loyalty_points, n.birthdate, n.created_at, n.preferences)
          is distinct from (o.status, o.country, o.locale, o.loyalty_tier, o.loyalty_points, o.birthdate, o.created_at, o.preferences)));
      return null;
    end
    $$`.execute(db);
  await sql`create trigger audience_on_users_update after update on users referencing new table as new_users old table as old_users
    for each statement execute function audience_on_users_update()`.execute(db);

  await db.schema
    .createTable('saved_audiences')
    .addColumn('id', 'text', (c) => c.primaryKey())
    .addColumn('name', 'text', (c) => c.notNull().check(sql`length(name) between 1 and 200`))
    .addColumn('purpose', 'text', (c) => c.notNull())
    // The filter as the API took it, validated; compiled again on every read.
    .addColumn('filter', 'jsonb', (c) => c.notNull().defaultTo(sql`'{}'::jsonb`))
    .addColumn('created_by', 'text')
    .addColumn('created_at', ms, (c) => c.notNull().defaultTo(sql`now()`))
    .execute();
}

export async function down(db: Kysely<any>): Promise<void> {
  await db.schema.dropTable('saved_audiences').execute();
  await sql`drop trigger audience_on_users_update on users`.execute(db);
  await sql`drop function audience_on_users_update()`.execute(db);
  for (const table of ['consents', 'orders']) {
    for (const event of ['insert', 'update', 'delete']) {
      await sql`drop trigger ${sql.raw(`audience_on_${table}_${event}`)} on ${sql.table(table)}`.execute(db);
      await sql`drop function ${sql.raw(`audience_on_${table}_${event}`)}()`.execute(db);
    }
  }
  await sql`drop function audience_resync(text[])`.execute(db);
  await db.schema.dropTable('audience_members').execute();
}
