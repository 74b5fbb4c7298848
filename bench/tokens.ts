/**
 * The OAuth token service through the hub, against bare `jose` in this process, in one run:
 * - client-credentials issuance: client authentication (through the agent cache), an ES256
 *   signature, the audit record; floor: `jose` signing the same claims;
 * - token exchange (RFC 8693), first hop: client authentication, the subject token's signature
 *   (the same token each time, so verified once and then cached, as the hub caches any token it
 *   has verified), one statement for its revocation and the user's consent, a signature, the audit
 *   record; floor: `jose` verifying the subject and signing;
 * - the per-request token check every authenticated request pays (revocation, agent chain,
 *   consent: one prepared statement), run from this process; floor: `select 1` over the same pool.
 * Goals (issue 5): 3,000 client-credentials tokens/s on 2 cores, exchanges at two-thirds of that.
 * Run: `npx tsx bench/tokens.ts` (BENCH_DATABASE_URL, BENCH_SECONDS).
 */
import { generateKeyPair, jwtVerify, SignJWT } from 'jose';
import { sql } from 'kysely';
import type { Db } from '../src/db/connect.js';
import { findTokenState } from '../src/oauth/token-state.queries.js';
import { markdownTable, measureCalls, measureHttp, type Row } from './lib/measure.js';
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
  const signedUp = await graphql(hub, 'mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }', { i: { email, password: 'bench password long enough 1' } });
  const user = { id: signedUp.data.signUp.user.id as string, token: signedUp.data.signUp.accessToken as string };
  const given = await graphql(hub, 'mutation($i: GiveConsentInput!) { giveConsent(input: $i) { id } }', { i: { purpose: 'support', agentId: agent.clientId, scopes: ['orders:read'] } }, user.token);
  return { agent, user, consentId: given.data.giveConsent.id as string };
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
      measureHttp({ url: `${hub.url}/oauth/token`, body, headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: auth }, seconds });
    const floors = await joseFloors(seconds);
    const facts = { jti: 'bench-jti', agentIds: [agent.clientId], consentId, userId: user.id };
    return [
      { workload: 'client_credentials token (goal ≥ 3,000/s)', hub: await http(credentialsBody), floor: floors.sign },
      { workload: 'token exchange (goal ≥ 2,000/s)', hub: await http(exchangeBody), floor: floors.verifyAndSign },
      {
        workload: 'per-request token state check vs select 1',
        hub: await measureCalls(() => findTokenState(database.db, facts, new Date()), { seconds }),
        floor: await measureCalls(() => sql`select 1`.execute(database.db as Db), { seconds }),
      },
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
