import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { CompiledQuery } from 'kysely';
import type pg from 'pg';
import { from as copyFrom } from 'pg-copy-streams';
import type { Db } from '../db/connect.js';

type ColumnType = 'text' | 'boolean' | 'integer' | 'bigint' | 'date' | 'timestamptz' | 'jsonb' | 'text[]';

/** The tables a seed appends to, and the columns it writes with their SQL types, in COPY order. */
const SEED_TABLES = {
  users: {
    id: 'text', email: 'text', email_verified: 'boolean', phone: 'text', given_name: 'text', family_name: 'text', birthdate: 'date',
    locale: 'text', country: 'text', address: 'jsonb', preferences: 'jsonb', loyalty_tier: 'text', loyalty_points: 'integer',
    created_at: 'timestamptz', updated_at: 'timestamptz', last_login_at: 'timestamptz', password_hash: 'text',
  },
  orders: { id: 'text', user_id: 'text', placed_at: 'timestamptz', total_minor: 'bigint', currency: 'text', status: 'text', line_items: 'jsonb' },
  payment_methods: { id: 'text', user_id: 'text', brand: 'text', last4: 'text', exp_month: 'integer', exp_year: 'integer', created_at: 'timestamptz' },
  consents: {
    id: 'text', user_id: 'text', purpose: 'text', agent_id: 'text', scopes: 'text[]', status: 'text', given_at: 'timestamptz',
    expires_at: 'timestamptz', withdrawn_at: 'timestamptz', collection_method: 'text', policy_version: 'text',
  },
  consent_events: { consent_id: 'text', user_id: 'text', kind: 'text', occurred_at: 'timestamptz', actor_kind: 'text', actor_id: 'text', detail: 'jsonb' },
  audience_members: {
    purpose: 'text', user_id: 'text', consent_id: 'text', expires_at: 'timestamptz', country: 'text', locale: 'text', loyalty_tier: 'text',
    loyalty_points: 'integer', birthdate: 'date', signed_up_at: 'timestamptz', interests: 'text[]', channels: 'text[]',
    order_count: 'integer', order_spend_minor: 'bigint', last_order_at: 'timestamptz',
  },
} as const satisfies Record<string, Record<string, ColumnType>>;

export type SeedTable = keyof typeof SEED_TABLES;

/** A row of a seeded table: a value (or null) for each of its columns; Dates for timestamps. */
export type SeedRow<T extends SeedTable> = { readonly [column in keyof (typeof SEED_TABLES)[T]]: unknown };

/** One batch's transaction, as the seed writes it. */
export interface SeedTransaction {
  /** Appends rows to a table in one statement. */
  append<T extends SeedTable>(table: T, rows: readonly SeedRow<T>[]): Promise<void>;
  /** Runs one statement with bound parameters and returns its rows. */
  query<R>(text: string, params?: readonly unknown[]): Promise<R[]>;
}

/** Where a seed writes: each batch in a transaction of its own, committed whole or not at all. */
export interface SeedWriter {
  transaction<T>(write: (tx: SeedTransaction) => Promise<T>): Promise<T>;
  /** Batches that may be written at once. */
  readonly concurrency: number;
}

/**
 * Writes through Kysely (PGlite, or a transaction a caller holds): each append is one
 * `insert … select from jsonb_to_recordset($1)`, the rows travelling as one JSON parameter, far
 * from the 65,535-parameter limit whatever the batch size.
 */
export function kyselySeedWriter(db: Db): SeedWriter {
  const tx = (trx: Db): SeedTransaction => ({
    append: async (table, rows) => {
      if (rows.length === 0) return;
      const columns = Object.entries(SEED_TABLES[table]);
      const names = columns.map(([name]) => name).join(', ');
      const record = columns.map(([name, type]) => `${name} ${type}`).join(', ');
      const text = `insert into ${table} (${names}) select ${names} from jsonb_to_recordset($1::jsonb) as r(${record})`;
      await trx.executeQuery(CompiledQuery.raw(text, [JSON.stringify(rows)]));
    },
    query: async <R>(text: string, params: readonly unknown[] = []) => (await trx.executeQuery<R>(CompiledQuery.raw(text, [...params]))).rows as R[],
  });
  return {
    concurrency: 1,
    transaction: (write) => (db.isTransaction ? write(tx(db)) : db.transaction().execute((trx) => write(tx(trx)))),
  };
}

/**
 * Writes through COPY on a server's connection pool: rows go as COPY text, which the server
 * parses far faster than JSON or multi-row VALUES. Two batches at once: while one backend writes
 * index pages, the other parses.
 */
export function copySeedWriter(pool: pg.Pool): SeedWriter {
  const tx = (client: pg.PoolClient): SeedTransaction => ({
    append: async (table, rows) => {
      if (rows.length === 0) return;
      const columns = Object.entries(SEED_TABLES[table]) as [string, ColumnType][];
      const stream = client.query(copyFrom(`copy ${table} (${columns.map(([name]) => name).join(', ')}) from stdin`));
      await pipeline(Readable.from(copyChunks(columns, rows as readonly Record<string, unknown>[])), stream);
    },
    query: async <R>(text: string, params: readonly unknown[] = []) => (await client.query(text, [...params])).rows as R[],
  });
  return {
    concurrency: 2,
    async transaction(write) {
      const client = await pool.connect();
      try {
        await client.query('begin');
        const result = await write(tx(client));
        await client.query('commit');
        return result;
      } catch (error) {
        await client.query('rollback').catch(() => {});
        throw error;
      } finally {
        client.release();
      }
    },
  };
}

/** COPY text, about 1 MiB a chunk: one line per row, tab between fields, `\N` for null. */
function* copyChunks(columns: readonly [string, ColumnType][], rows: readonly Record<string, unknown>[]): Generator<string> {
  let chunk = '';
  for (const row of rows) {
    let line = '';
    for (let i = 0; i < columns.length; i++) {
      const [name, type] = columns[i]!;
      if (i > 0) line += '\t';
      line += copyField(row[name], type);
    }
    chunk += `${line}\n`;
    if (chunk.length >= 1 << 20) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

function copyField(value: unknown, type: ColumnType): string {
  if (value === null || value === undefined) return '\\N';
  switch (type) {
    case 'boolean':
      return value ? 't' : 'f';
    case 'timestamptz':
      return value instanceof Date ? value.toISOString() : escapeCopy(String(value));
    case 'jsonb':
      return escapeCopy(JSON.stringify(value));
    case 'text[]':
      return escapeCopy(`{${(value as readonly string[]).map((item) => `"${item.replace(/["\\]/g, '\\$&')}"`).join(',')}}`);
    default:
      return escapeCopy(String(value));
  }
}

const COPY_SPECIAL = /[\\\n\r\t]/g;
const COPY_ESCAPES: Record<string, string> = { '\\': '\\\\', '\n': '\\n', '\r': '\\r', '\t': '\\t' };

/** A value as COPY text reads it back exactly: backslash, newline, return and tab escaped. */
function escapeCopy(text: string): string {
  return text.replace(COPY_SPECIAL, (c) => COPY_ESCAPES[c]!);
}
