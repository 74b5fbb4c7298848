import { execFile, spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { createLocalJWKSet, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type Db } from '../../src/db/connect.js';
import { migrateToLatest } from '../../src/db/migrator.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { rotateSigningKey } from '../../src/oauth/key-store.js';
import { fixedClock } from '../../src/shared/clock.js';
import { admin, withDatabase, withRole } from '../helpers/global-setup.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

const run = promisify(execFile);

const ENV = { ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false', HUB_WEBHOOK_ALLOWED_NETWORKS: '127.0.0.0/8', HUB_ISSUER: 'https://hub.example' };
const HAS_PG_TOOLS = ['pg_dump', 'pg_restore', 'psql'].every((tool) => spawnSync(tool, ['--version']).status === 0);
const MONTH_MS = 31 * 24 * 3_600_000;

/**
 * Whether pg_dump can dump the test server: it refuses a server of a later major version than its
 * own (`aborting because of server version mismatch`), as it cannot know that server's catalogs.
 */
function pgDumpReachesServer(url: string): boolean {
  const major = (text: string) => Number(/\d+/.exec(text)?.[0]);
  const server = spawnSync('psql', ['-XAtc', 'show server_version_num', '-d', url], { encoding: 'utf8' });
  if (server.status !== 0) return true;
  const client = spawnSync('pg_dump', ['--version'], { encoding: 'utf8' });
  return Math.floor(major(server.stdout) / 10_000) <= major(client.stdout.replace(/^\D+/, ''));
}

/** Every table of the hub's schema by name, with its row count and a digest of its rows. */
async function contents(db: Db): Promise<Record<string, string>> {
  const tables = await sql<{ name: string }>`select c.relname as name from pg_class c join pg_namespace n on n.oid = c.relnamespace
    where n.nspname = 'public' and c.relkind in ('r', 'p') and not c.relispartition order by 1`.execute(db);
  const result: Record<string, string> = {};
  for (const { name } of tables.rows) {
    const { rows } = await sql<{ n: number; digest: string | null }>`select count(*)::int as n, md5(string_agg(t::text, '|' order by t::text)) as digest from ${sql.table(name)} t`.execute(db);
    result[name] = `${rows[0]!.n} ${rows[0]!.digest}`;
  }
  return result;
}

/** The triggers, partitions and functions of the schema: what guards and maintains the data. */
async function machinery(db: Db): Promise<string[]> {
  const triggers = await sql<{ x: string }>`select 'trigger ' || tgrelid::regclass || ' ' || tgname || ' ' || tgenabled::text as x from pg_trigger where not tgisinternal`.execute(db);
  const partitions = await sql<{ x: string }>`select 'partition ' || inhrelid::regclass || ' ' || pg_get_expr(c.relpartbound, c.oid) as x from pg_inherits join pg_class c on c.oid = inhrelid where c.relkind in ('r', 'p')`.execute(db);
  const functions = await sql<{ x: string }>`select 'function ' || p.proname as x from pg_proc p join pg_namespace n on n.oid = p.pronamespace where n.nspname = 'public'`.execute(db);
  return [...triggers.rows, ...partitions.rows, ...functions.rows].map((row) => row.x).sort();
}

// The standard backups of a server database, pg_dump's custom format and plain SQL, restored into
// a database of another name, one of them by a role that only owns that database: the hub on the
// copy must be the hub on the original. Only a server has pg_dump; the test needs its client tools
// on PATH, of the server's major version or later, and is skipped without them.
describe.skipIf(!testServerUrl() || !HAS_PG_TOOLS || !pgDumpReachesServer(testServerUrl()!))('a hub database backed up with pg_dump and restored', () => {
  const serverUrl = testServerUrl()!;
  const clock = fixedClock(new Date(Date.now() - MONTH_MS));
  const suffix = randomBytes(4).toString('hex');
  const owner = `hub_test_owner_${suffix}`;
  // Made once the tests run: a skipped describe's body still runs to collect them.
  let dir = '';
  const restored: string[] = [];
  let source: TestDatabase;
  let before: Record<string, string>;
  let guards: string[];
  let tokens: { user: string; exchanged: string; signedBeforeRotation: string };
  let userId: string;
  let audienceId: string;
  let tool: string;
  let members: number;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'hub-backup-'));
    source = await createTestDatabase();
    // Last month's events in a partition of their own, as on a hub that ran a month ago.
    await sql`select audit_ensure_partitions(${clock.now()}::timestamptz)`.execute(source.db);
    const hub = await createHub(loadConfig(ENV), { database: openDatabase({ url: source.url! }), clock });
    const operator = await operatorToken(hub);
    const agent = await registerAgent(hub, operator, { allowedScopes: ['orders:read', 'contact:read'] });
    const subscription = await graphql<any>(hub, 'mutation($i: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $i) { subscription { id } } }', {
      token: operator,
      variables: { i: { url: 'http://127.0.0.1:8/hooks', eventTypes: ['consent.given', 'consent.withdrawn'] } },
    });
    expect(subscription.errors).toBeUndefined();
    const users = [];
    for (let i = 0; i < 3; i++) users.push(await signUpUser(hub, { country: 'DE' }));
    for (const user of users) await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const withdrawn = await giveConsent(hub, users[1]!.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    expect((await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: users[1]!.accessToken, variables: { id: withdrawn } })).errors).toBeUndefined();

    // This month: the keys rotated once, consents given and withdrawn, tokens exchanged.
    clock.set(new Date());
    const user = await signUpUser(hub, { country: 'DE' });
    userId = user.id;
    await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['orders:read'] });
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const signedBeforeRotation = (await signIn(hub, user)).accessToken;
    await rotateSigningKey(source.db, resolveKeyEncryptionKey(loadConfig(ENV)), clock.now());
    await hub.services.keys.reload();
    const exchanged = await exchange(hub, agent, user.accessToken);
    expect(exchanged.status).toBe(200);
    const again = await graphql<any>(hub, 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken } }', {
      variables: { input: { email: user.email, password: 'correct horse battery staple 42' } },
    });
    tokens = { user: again.data.signIn.accessToken, exchanged: exchanged.body.access_token, signedBeforeRotation };
    expect(decodeProtectedHeader(tokens.user).kid).not.toBe(decodeProtectedHeader(signedBeforeRotation).kid);
    const third = (await signIn(hub, users[2]!)).accessToken;
    const withdrawnNow = await giveConsent(hub, third, { agentId: agent.id, scopes: ['orders:read'] });
    expect((await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: third, variables: { id: withdrawnNow } })).errors).toBeUndefined();
    tool = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000TOOL');
    const audience = await graphql<any>(hub, 'mutation { createAudience(input: { name: "Germany", purpose: "email_marketing", filter: { countries: ["DE"] } }) { id members { totalCount } } }', { token: tool });
    audienceId = audience.data.createAudience.id;
    members = audience.data.createAudience.members.totalCount;
    expect(members).toBe(4);
    await hub.close();

    before = await contents(source.db);
    guards = await machinery(source.db);
    expect(Number(before['audit_events']!.split(' ')[0])).toBeGreaterThan(10);
    expect(guards.filter((g) => g.startsWith('partition audit_events_2')).length).toBeGreaterThanOrEqual(2);
    await admin(serverUrl, `create role ${owner} login`);
  }, 120_000);

  afterAll(async () => {
    for (const name of restored) await admin(serverUrl, `drop database if exists ${name} with (force)`);
    await admin(serverUrl, `drop role if exists ${owner}`);
    await source?.close();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const ways: [string, (target: string, targetUrl: string) => Promise<void>][] = [
    [
      'pg_dump -Fc, pg_restore',
      async (target, targetUrl) => {
        const file = path.join(dir, `${target}.dump`);
        await admin(serverUrl, `create database ${target}`);
        await run('pg_dump', ['-Fc', '-f', file, '-d', source.url!]);
        await run('pg_restore', ['--exit-on-error', '-d', targetUrl, file]);
      },
    ],
    [
      'pg_dump -Fc, pg_restore --no-owner by the role owning the new database',
      async (target, targetUrl) => {
        const file = path.join(dir, `${target}.dump`);
        await admin(serverUrl, `create database ${target} owner ${owner}`);
        await run('pg_dump', ['-Fc', '-f', file, '-d', source.url!]);
        await run('pg_restore', ['--exit-on-error', '--no-owner', '--no-privileges', '-d', withRole(targetUrl, owner), file]);
      },
    ],
    [
      'pg_dump | psql',
      async (target, targetUrl) => {
        const file = path.join(dir, `${target}.sql`);
        await admin(serverUrl, `create database ${target}`);
        await run('pg_dump', ['-f', file, '-d', source.url!]);
        await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-d', targetUrl, '-f', file]);
      },
    ],
  ];

  it.each(ways)('restores whole with %s', async (_, restore) => {
    const target = `hub_test_restored_${randomBytes(4).toString('hex')}`;
    restored.push(target);
    const targetUrl = withDatabase(serverUrl, target);
    await restore(target, targetUrl);
    const copy = openDatabase({ url: targetUrl });
    try {
      expect(await contents(copy.db)).toEqual(before);
      expect(await machinery(copy.db)).toEqual(guards);
      // What `hub audit verify` and `hub migrate up` find: every chain whole, no migration to apply.
      expect((await verifyAuditChains(copy.db)).broken).toBeUndefined();
      expect(await migrateToLatest(copy.db)).toEqual([]);
    } finally {
      await copy.close();
    }

    const hub: Hub = await createHub(loadConfig(ENV), { database: openDatabase({ url: targetUrl }), clock });
    try {
      // Tokens issued before the dump, under the key rotated away and under the new one, still verify.
      for (const token of [tokens.signedBeforeRotation, tokens.user]) {
        const me = await graphql<any>(hub, '{ me { id } }', { token });
        expect(me.data, JSON.stringify(me.errors)).toEqual({ me: { id: userId } });
      }
      const delegated = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { id } }', { token: tokens.exchanged, variables: { id: userId } });
      expect(delegated.errors).toBeUndefined();
      // Receipts verify against the restored hub's keys.
      const jwks = createLocalJWKSet(JSON.parse((await hub.http.inject({ method: 'GET', url: '/receipts/jwks.json' })).body) as JSONWebKeySet);
      const consents = await hub.services.db.selectFrom('consents').select(['id', 'receipt']).execute();
      for (const consent of consents) await jwtVerify(consent.receipt!, jwks, { typ: 'consent-receipt+jwt' });
      // The audience counts the same members, and keeps counting new ones.
      const count = async () => (await graphql<any>(hub, 'query($id: ID!) { savedAudience(id: $id) { members { totalCount } } }', { token: tool, variables: { id: audienceId } })).data.savedAudience.members.totalCount;
      expect(await count()).toBe(members);
      // The ledger's identity column goes on past the restored rows, and its history stays append-only.
      const newcomer = await signUpUser(hub, { country: 'DE' });
      await giveConsent(hub, newcomer.accessToken, { purpose: 'email_marketing' });
      expect(await count()).toBe(members + 1);
      await expect(sql`delete from consent_events`.execute(hub.services.db)).rejects.toThrow(/append-only/);
      await expect(sql`update audit_events set reason = 'x'`.execute(hub.services.db)).rejects.toThrow(/append-only/);
    } finally {
      await hub.close();
    }
    // The trail kept appending to the restored chains.
    const after = openDatabase({ url: targetUrl });
    try {
      const verification = await verifyAuditChains(after.db);
      expect(verification.broken).toBeUndefined();
      expect(verification.events).toBeGreaterThan(Number(before['audit_events']!.split(' ')[0]));
    } finally {
      await after.close();
    }
  }, 120_000);
});
