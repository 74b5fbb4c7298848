import type { SeedTransaction } from './seed.writer.js';

/**
 * Every index of these tables that a load can do without and build again after it: plain and
 * unique indexes, and primary keys no foreign key depends on, each with the statements that
 * drop and create it, written by PostgreSQL itself (`pg_get_indexdef`, `pg_get_constraintdef`),
 * so they stay what the migrations made.
 */
const REBUILDABLE = `
  select format('alter table %s drop constraint %I', c.conrelid::regclass, c.conname) as drop_sql,
         format('alter table %s add constraint %I %s', c.conrelid::regclass, c.conname, pg_get_constraintdef(c.oid)) as create_sql
    from pg_constraint c
   where c.conrelid = any($1::text[]::regclass[]) and c.contype in ('p', 'u')
     and not exists (select 1 from pg_constraint f where f.contype = 'f' and f.conindid = c.conindid)
  union all
  select format('drop index %s', i.indexrelid::regclass), pg_get_indexdef(i.indexrelid)
    from pg_index i
   where i.indrelid = any($1::text[]::regclass[])
     and not exists (select 1 from pg_constraint c where c.conindid = i.indexrelid)`;

/**
 * True when none of these tables holds a row and the role owns every one (dropping an index takes
 * the table's owner; a role that may only write the rows cannot): a load into them may build
 * their indexes after.
 */
export async function mayRebuildIndexes(tx: SeedTransaction, tables: readonly string[]): Promise<boolean> {
  const [owned] = await tx.query<{ owns: boolean }>(`select bool_and(pg_has_role(relowner, 'USAGE')) as owns from pg_class where oid = any($1::text[]::regclass[])`, [tables]);
  if (owned?.owns !== true) return false;
  const probes = tables.map((table) => `not exists (select 1 from ${table})`).join(' and ');
  const [row] = await tx.query<{ empty: boolean }>(`select ${probes} as empty`);
  return row?.empty === true;
}

/**
 * Drops the rebuildable indexes of these tables inside `tx` and returns what builds them again:
 * loading into tables without them, then sorting each once, costs far less than updating them
 * row by row (order ids, for one, are time-ordered ULIDs of dates spread over years, so each row
 * would land on a random page of the primary key). Safe only in the transaction that also loads
 * the rows and builds the indexes again: a failure or an interrupted load rolls the drop back
 * with the rows, and a unique index built again still refuses duplicates.
 */
export async function dropIndexesUntilLoaded(tx: SeedTransaction, tables: readonly string[]): Promise<() => Promise<void>> {
  const indexes = await tx.query<{ drop_sql: string; create_sql: string }>(REBUILDABLE, [tables]);
  for (const { drop_sql } of indexes) await tx.query(drop_sql);
  return async () => {
    // Sorting in memory beats spilling to disk; the setting ends with the transaction.
    await tx.query(`set local maintenance_work_mem = '512MB'`);
    for (const { create_sql } of indexes) await tx.query(create_sql);
  };
}
