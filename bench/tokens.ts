/**
 * The OAuth token service through the hub, against bare `jose` in this process, in one run:
 * - client-credentials issuance: client authentication (through the agent cache), an ES256
 *   signature, the audit record; floor: `jose` signing the same claims;
 * - token exchange (RFC 8693), first hop: client authentication, the subject token's signature
 *   (the same token each time, so verified once and then cached, as the hub caches any token it
 *   has verified), one statement for its revocation and the user's consent, a signature, the audit
 *   record; floor: `jose` verifying the subject and signing;
 * - the per-request token check every authenticated request pays (revocation, agent chain,
 *   consent: one prepared statement), run from this process; floor: `select 1` over the same pool;
 * - a user's session refreshed (`grant_type=refresh_token`) again and again, each time with the
 *   token the last refresh returned, as one client does: client checks, the token used and
 *   replaced (and the family's older rows deleted), the user's state, a signature, the audit
 *   record; floor: the statements any rotation makes (the token locked by its hash, marked used,
 *   the next one inserted, in one transaction) and `jose` signing, from this process. The rows
 *   the session's family holds at the end are printed beside it.
 * Goals (issue 5): 3,000 client-credentials tokens/s on 2 cores, exchanges at two-thirds of that.
 * Run: `npx tsx bench/tokens.ts` (BENCH_DATABASE_URL, BENCH_SECONDS).
 */
import { createHash, randomBytes } from 'node:crypto';
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { sql } from 'kysely';
import type { Db } from '../src/db/connect.js';
import { findTokenState } from '../src/oauth/token-state.queries.js';
import { markdownTable, measureCalls, measureHttp, tokenServed, type Row } from './lib/measure.js';
import { BENCH_SECONDS, machine, openBenchDatabase, startHubProcess, type HubProcess } from './lib/setup.js';

const OPERATOR = { id: 'agt_bench_operator', secret: 'bench-only-operator-secret-not-for-production' };
const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';

const basic = (id: string, secret: string) => `Basic ${Buffer.from(`${encodeURIComponent(id)}:${encodeURIComponent(secret)}`).toString('base64')}`;

async function post(hub: HubProcess, path: string, body: string, headers: Record<string, string>): Promise<any> {
  const response = await fetch(`${hub.url}${path}`, { method: 'POST', headers, body });
  const json = (await response.json()) as any;
  if (!response.ok || json.errors) throw new Error(`${path} failed: ${JSON.stringify(json).slice(0, 500)}`);
  return json;
}

const graphql = (hub: HubProcess, query: string, variables: object, token?: string) =>
  post(hub, '/graphql', JSON.stringify({ query, variables }), { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) });

const form = (hub: HubProcess, body: Record<string, string>, authorization: string) =>
  post(hub, '/oauth/token', new URLSearchParams(body).toString(), { 'content-type': 'application/x-www-form-urlencoded', authorization });

/** An agent, a user who consented to it, and the user's token: what both workloads need. */
async function prepare(hub: HubProcess) {
  const admin = (await form(hub, { grant_type: 'client_credentials' }, basic(OPERATOR.id, OPERATOR.secret))).access_token;
  const registered = await graphql(hub, 'mutation($i: RegisterAgentInput!) { registerAgent(input: $i) { clientId clientSecret } }', {
    i: { name: 'Bench assistant', kind: 'AI_AGENT', allowedScopes: ['orders:read', 'contact:read'] },
  }, admin);
  const agent = registered.data.registerAgent as { clientId: string; clientSecret: string };
  const email = `bench-${Date.now()}@example.com`;
  const signedUp = await graphql(hub, 'mutation($i: SignUpInput!) { signUp(input: $i) { accessToken refreshToken user { id } } }', { i: { email, password: 'bench password long enough 1' } });
  const user = { id: signedUp.data.signUp.user.id as string, token: signedUp.data.signUp.accessToken as string, refreshToken: signedUp.data.signUp.refreshToken as string };
  const given = await graphql(hub, 'mutation($i: GiveConsentInput!) { giveConsent(input: $i) { id } }', { i: { purpose: 'support', agentId: agent.clientId, scopes: ['orders:read'] } }, user.token);
  return { agent, user, consentId: given.data.giveConsent.id as string };
}

/** A user's session (`token`), refreshed by each call with the token the last one returned. */
function refreshingSession(hub: HubProcess, token: string) {
  const refresh = async () => {
    const body = new URLSearchParams({ grant_type: 'refresh_token', client_id: 'hub-frontend', refresh_token: token }).toString();
    token = (await post(hub, '/oauth/token', body, { 'content-type': 'application/x-www-form-urlencoded' })).refresh_token;
  };
  return { refresh, familyId: token.split('~')[1]! };
}

/** Issue 5: client-credentials tokens per second on 2 cores; exchanges at two-thirds of it. */
const CREDENTIALS_GOAL = 3_000;

const FLOOR_FAMILY = 'rt_floor';

/** The floor of a refresh: a rotation's statements, on a chain of rows of its own, and an ES256 signature. */
async function rotationFloor(db: Db, userId: string) {
  const { privateKey } = await generateKeyPair('ES256');
  const row = (hash: Buffer) => ({
    id: `rt_floor_${randomBytes(8).toString('hex')}`,
    family_id: FLOOR_FAMILY,
    token_hash: hash,
    user_id: userId,
    client_id: 'hub-frontend',
    scope: 'profile:read',
    auth_time: new Date(),
    expires_at: new Date(Date.now() + 3_600_000),
  });
  let used = createHash('sha256').update(randomBytes(32)).digest();
  await db.insertInto('refresh_tokens').values(row(used)).execute();
  return async () => {
    const next = createHash('sha256').update(randomBytes(32)).digest();
    await db.transaction().execute(async (tx) => {
      const { id } = await tx.selectFrom('refresh_tokens').select('id').where('token_hash', '=', used).forUpdate().executeTakeFirstOrThrow();
      await tx.updateTable('refresh_tokens').set({ rotated_at: new Date() }).where('id', '=', id).execute();
      await tx.insertInto('refresh_tokens').values(row(next)).execute();
    });
    await new SignJWT({ sub: userId, scope: 'profile:read' }).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k' }).setIssuedAt().setExpirationTime('10m').sign(privateKey);
    used = next;
  };
}

/** The floors: the same ES256 work done with bare `jose` in this process. */
async function joseFloors(seconds: number) {
  const { privateKey, publicKey } = await generateKeyPair('ES256');
  const claims = { sub: 'agt_x', client_id: 'agt_x', scope: 'orders:read', jti: 'j' };
  const sign = () => new SignJWT(claims).setProtectedHeader({ alg: 'ES256', typ: 'at+jwt', kid: 'k' }).setIssuedAt().setExpirationTime('10m').sign(privateKey);
  const subject = await sign();
  return {
    sign: await measureCalls(sign, { seconds }),
    verifyAndSign: await measureCalls(async () => (await jwtVerify(subject, publicKey), sign()), { seconds }),
  };
}

export async function benchTokens(): Promise<Row[]> {
  const database = await openBenchDatabase();
  const hub = await startHubProcess({ HUB_BOOTSTRAP_CLIENT_ID: OPERATOR.id, HUB_BOOTSTRAP_CLIENT_SECRET: OPERATOR.secret, HUB_TOKEN_RATE_LIMIT: '1000000' });
  try {
    const { agent, user, consentId } = await prepare(hub);
    const auth = basic(agent.clientId, agent.clientSecret);
    const credentialsBody = 'grant_type=client_credentials&scope=orders%3Aread';
    const exchangeBody = new URLSearchParams({ grant_type: EXCHANGE, subject_token: user.token, subject_token_type: ACCESS_TOKEN, scope: 'orders:read' }).toString();
    await form(hub, Object.fromEntries(new URLSearchParams(credentialsBody)), auth);
    await form(hub, Object.fromEntries(new URLSearchParams(exchangeBody)), auth);

    const seconds = BENCH_SECONDS;
    const http = (body: string) =>
      measureHttp({ url: `${hub.url}/oauth/token`, body, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, seconds, verifyBody: tokenServed });
    const floors = await joseFloors(seconds);
    const facts = { jti: 'bench-jti', agentIds: [agent.clientId], consentId, userId: user.id };
    const session = refreshingSession(hub, user.refreshToken);
    const refreshed = await measureCalls(session.refresh, { concurrency: 1, seconds });
    const rotated = await measureCalls(await rotationFloor(database.db as Db, user.id), { concurrency: 1, seconds });
    const { rows } = await sql<{ rows: number }>`select count(*)::int as rows from refresh_tokens where family_id = ${session.familyId}`.execute(database.db as Db);
    // The floor's rows are no one's, and thousands of them in one family would skew the plans of
    // the benches after this one; the table is left as autovacuum would leave it (this machine's
    // server runs without).
    await sql`delete from refresh_tokens where family_id = ${FLOOR_FAMILY}`.execute(database.db as Db);
    await sql`vacuum (analyze) refresh_tokens`.execute(database.db as Db);
    return [
      { workload: 'client_credentials token', hub: await http(credentialsBody), floor: floors.sign, rateGoal: CREDENTIALS_GOAL },
      { workload: 'token exchange', hub: await http(exchangeBody), floor: floors.verifyAndSign, rateGoal: (CREDENTIALS_GOAL * 2) / 3 },
      {
        workload: 'per-request token state check vs select 1',
        // Where the hub runs it, and its floor with it: on the connections kept for checks
        // (`DatabaseHandle.checks`, 4 of them), not on the 16 of the requests' pool.
        hub: await measureCalls(() => findTokenState(database.checks, facts, new Date()), { seconds }),
        floor: await measureCalls(() => sql`select 1`.execute(database.checks as Db), { seconds }),
      },
      { workload: `refresh a session, one call at a time (${Math.round(refreshed.rate * seconds).toLocaleString('en-US')} refreshes; rows of its family at the end: ${rows[0]!.rows})`, hub: refreshed, floor: rotated },
    ];
  } finally {
    await hub.stop();
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchTokens();
  console.log(`\nToken service on ${machine()}\n\n${markdownTable(rows)}`);
}
