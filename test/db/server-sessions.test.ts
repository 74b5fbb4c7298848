import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randomBytes } from 'node:crypto';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { IDLE_IN_TRANSACTION_TIMEOUT_MS } from '../../src/db/server-session.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { admin, withDatabase } from '../helpers/global-setup.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { proxyDatabase } from '../helpers/tcp-proxy.js';

describe.skipIf(testServerUrl() === undefined)('a session of the hub on the PostgreSQL server', () => {
  let database: TestDatabase;
  beforeAll(async () => {
    database = await createTestDatabase();
    await sql`create table held (id int primary key)`.execute(database.db);
    await sql`insert into held values (1)`.execute(database.db);
  });
  afterAll(() => database.close());

  const setting = async () => (await sql<{ ms: number }>`select setting::int as ms from pg_settings where name = 'idle_in_transaction_session_timeout'`.execute(database.db)).rows[0]!.ms;

  it('is ended by the server once idle inside a transaction, which frees the rows it locked', async () => {
    expect(await setting()).toBe(IDLE_IN_TRANSACTION_TIMEOUT_MS);
    const stalled = openDatabase({ url: database.url!, poolSize: 1, idleInTransactionTimeoutMs: 500 });
    try {
      let resume!: () => void;
      const locked = new Promise<void>((resolve) => (resume = resolve));
      const transaction = stalled.db.transaction().execute(async (tx) => {
        await sql`select id from held where id = 1 for update`.execute(tx);
        resume();
        // The instance stalls here, holding the lock, past the timeout.
        await new Promise((resolve) => setTimeout(resolve, 1_500));
        await sql`select 1`.execute(tx);
      });
      await locked;
      const other = await database.db.transaction().execute(async (tx) => {
        await sql`set local lock_timeout = '5s'`.execute(tx);
        return (await sql<{ id: number }>`select id from held where id = 1 for update`.execute(tx)).rows;
      });
      expect(other).toEqual([{ id: 1 }]);
      await expect(transaction).rejects.toThrow(/connection error/);
    } finally {
      await stalled.close();
    }
  });

  it('has a statement cancelled by the server past the statement timeout, and its connection serves the next', async () => {
    const bounded = openDatabase({ url: database.url!, poolSize: 1, statementTimeoutMs: 200 });
    try {
      // The pool's one connection is opened first, so that what is timed is the statement alone,
      // cancelled at 200 ms: far below the 5 s it would sleep, however slow the machine.
      expect((await sql<{ one: number }>`select 1 as one`.execute(bounded.db)).rows).toEqual([{ one: 1 }]);
      const started = performance.now();
      await expect(sql`select pg_sleep(5)`.execute(bounded.db)).rejects.toMatchObject({ code: '57014' });
      expect(performance.now() - started).toBeLessThan(4_000);
      expect((await sql<{ one: number }>`select 1 as one`.execute(bounded.db)).rows).toEqual([{ one: 1 }]);
    } finally {
      await bounded.close();
    }
  });

  it('checks requests\' tokens on connections of their own, where the check keeps one generic plan', async () => {
    const hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: database.url!, HUB_STATEMENT_TIMEOUT: '7' }));
    try {
      const user = await signUpUser(hub);
      // One at a time, so the pool of checks opens one connection, which serves them all.
      for (let i = 0; i < 8; i++) expect((await graphql<any>(hub, '{ me { id } }', { token: user.accessToken })).data.me.id).toBe(user.id);
      const { checks, db } = hub.database;
      const show = async (on: typeof db) => (await sql<{ mode: string; timeout: string; name: string }>`
        select current_setting('plan_cache_mode') as mode, current_setting('statement_timeout') as timeout, current_setting('application_name') as name`.execute(on)).rows[0];
      expect(await show(checks)).toEqual({ mode: 'force_generic_plan', timeout: '7s', name: 'identity-consent-hub token checks' });
      expect(await show(db)).toEqual({ mode: 'auto', timeout: '7s', name: 'identity-consent-hub' });
      const plans = await sql<{ generic: number; custom: number }>`
        select generic_plans::int as generic, custom_plans::int as custom from pg_prepared_statements where statement like '%from revoked_tokens%'`.execute(checks);
      // Sign-up's own request checked its token too.
      expect(plans.rows).toEqual([{ generic: 9, custom: 0 }]);
    } finally {
      await hub.close();
    }
  });

  it('keeps the generic plan of the token checks beside options the URL gives its sessions', async () => {
    const url = new URL(database.url!);
    url.searchParams.set('options', '-c TimeZone=Pacific/Kiritimati -c work_mem=8MB');
    const configured = openDatabase({ url: url.toString() });
    try {
      const show = async (on: typeof configured.db) => (await sql<{ mode: string; zone: string; mem: string }>`
        select current_setting('plan_cache_mode') as mode, current_setting('TimeZone') as zone, current_setting('work_mem') as mem`.execute(on)).rows[0];
      expect(await show(configured.checks)).toEqual({ mode: 'force_generic_plan', zone: 'Pacific/Kiritimati', mem: '8MB' });
      expect(await show(configured.db)).toEqual({ mode: 'auto', zone: 'Pacific/Kiritimati', mem: '8MB' });
    } finally {
      await configured.close();
    }
  });

  it('gives its sessions their settings through a pooler in session mode that takes no startup parameter but its own', async () => {
    // PgBouncer takes `user`, `database`, `application_name`, `client_encoding` and a few others,
    // and refuses a connection that carries any other (`options` among them) unless told to
    // ignore it, which would leave every session without the hub's settings.
    const { proxy, url } = await proxyDatabase(database.url!);
    proxy.setStartupParameters(['user', 'database', 'application_name', 'client_encoding']);
    const pooled = openDatabase({ url, statementTimeoutMs: 7_000 });
    try {
      const show = async (on: typeof pooled.db) => (await sql<Record<string, string>>`
        select current_setting('statement_timeout') as timeout, current_setting('idle_in_transaction_session_timeout') as idle,
          current_setting('DateStyle') as style, current_setting('default_transaction_isolation') as isolation,
          current_setting('plan_cache_mode') as plans`.execute(on)).rows[0];
      const settings = { timeout: '7s', idle: '1min', style: 'ISO, MDY', isolation: 'read committed' };
      expect(await show(pooled.db)).toEqual({ ...settings, plans: 'auto' });
      expect(await show(pooled.checks)).toEqual({ ...settings, plans: 'force_generic_plan' });
    } finally {
      await pooled.close();
      await proxy.close();
    }
  });

  it('is ended by the server within minutes once the hub can no longer answer its keepalives', async () => {
    // Server only: the server probes its TCP peers (a Unix socket, or PGlite in process, has none
    // to lose). A hub host that vanished, or a flow a NAT forgot, never closes its sessions: the
    // server ends each one when its keepalive probes go unanswered, after the system's two hours
    // idle unless the session says otherwise, holding a connection slot (max_connections) until then.
    const pooled = openDatabase({ url: database.url!, statementTimeoutMs: 7_000 });
    try {
      const givenUpAfter = async (on: typeof pooled.db) => (await sql<{ idle: number; probes: number; seconds: number }>`
        select current_setting('tcp_keepalives_idle')::int as idle, current_setting('tcp_keepalives_count')::int as probes,
          current_setting('tcp_keepalives_idle')::int + current_setting('tcp_keepalives_interval')::int * current_setting('tcp_keepalives_count')::int as seconds`.execute(on)).rows[0]!;
      for (const on of [pooled.db, pooled.checks]) {
        const { idle, probes, seconds } = await givenUpAfter(on);
        // Probed at all (0 would be the system's default), and given up on within three minutes.
        expect([idle > 0, probes > 0]).toEqual([true, true]);
        expect(seconds).toBeLessThanOrEqual(180);
      }
    } finally {
      await pooled.close();
    }
  });

  it('runs with HUB_STATEMENT_TIMEOUT in force when the hub opens its own database', async () => {
    const hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: database.url!, HUB_STATEMENT_TIMEOUT: '7' }));
    try {
      expect((await sql<{ statement_timeout: string }>`show statement_timeout`.execute(hub.database.db)).rows).toEqual([{ statement_timeout: '7s' }]);
    } finally {
      await hub.close();
    }
  });

  it('answers a request whose statement outlives HUB_STATEMENT_TIMEOUT with an internal error, having written nothing', async () => {
    const hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: database.url!, HUB_STATEMENT_TIMEOUT: '1' }));
    try {
      const user = await signUpUser(hub, { givenName: 'Ada' });
      let resume!: () => void;
      const locked = new Promise<void>((resolve) => (resume = resolve));
      let answered!: () => void;
      const answer = new Promise<void>((resolve) => (answered = resolve));
      // Another session holds the user's row until the request is answered, so the update waits
      // behind it until the timeout cancels it, however slowly the request reaches it. A hub that
      // let the update wait gets the row when the holder gives up, and writes.
      const holder = database.db.transaction().execute(async (tx) => {
        await sql`select id from users where id = ${user.id} for update`.execute(tx);
        resume();
        await Promise.race([answer, new Promise((resolve) => setTimeout(resolve, 15_000))]);
      });
      await locked;
      const response = await graphql(hub, 'mutation { updateProfile(input: { givenName: "Grace" }) { givenName } }', { token: user.accessToken });
      answered();
      expect([response.status, response.errors?.map((e) => e.extensions?.code)]).toEqual([200, ['INTERNAL_SERVER_ERROR']]);
      await holder;
      const row = await hub.services.db.selectFrom('users').select('given_name').where('id', '=', user.id).executeTakeFirstOrThrow();
      expect(row.given_name).toBe('Ada');
    } finally {
      await hub.close();
    }
  });

  it('migrates a new database however long its statements take, then hands the connection back bounded', async () => {
    const name = `hub_test_${randomBytes(6).toString('hex')}`;
    await admin(testServerUrl()!, `create database ${name}`);
    // Creating 18 migrations' tables, indexes and functions takes far longer than 5 ms; setting the
    // timeout aside takes far less, even on a loaded machine.
    const bounded = openDatabase({ url: withDatabase(testServerUrl()!, name), poolSize: 1, statementTimeoutMs: 5 });
    try {
      expect((await migrateToLatest(bounded.db)).length).toBeGreaterThan(0);
      await expect(sql`select pg_sleep(0.2)`.execute(bounded.db)).rejects.toMatchObject({ code: '57014' });
    } finally {
      await bounded.close();
      await admin(testServerUrl()!, `drop database if exists ${name} with (force)`);
    }
  });
});
