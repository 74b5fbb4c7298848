/**
 * The mixed load that both `npm run bench -- load` and the long test run: every workload a client
 * of the hub brings, at once, each from its own loopback connections, against one hub process
 * whose resident memory is sampled throughout.
 */
import { readFileSync } from 'node:fs';
import { hashClientSecret } from '../../src/agents/agent-credentials.js';
import type { Db } from '../../src/db/connect.js';
import { AGENT_QUERY } from '../authz.js';
import { ME_QUERY, expectData, signIn, userWithTenOrders } from '../profile.js';
import { graphqlServed, measureHttp, tokenServed, type Figures, type HttpLoad, type Row } from './measure.js';
import { ensureBenchClient, type HubProcess } from './setup.js';

/** The hub's resident memory must stay under this through the run, in MiB: issue 9's 400 MB (10^6 bytes). */
export const MEMORY_GOAL_MIB = 400e6 / 2 ** 20;

/**
 * The V8 old-space limit the hub runs the mix with, as a deployment with a memory budget sets it.
 * Left at Node's default (a quarter of the machine's memory, up to 4 GiB), V8 lets garbage pile up
 * long before it collects, and resident memory then tells how lazy the collector was, not what
 * the hub needs.
 */
export const HUB_HEAP_MB = 256;

/** What the hub process needs for the mix: its heap limit, and no rate limit to stop a benchmark's one caller. */
export const LOAD_HUB_ENV: Readonly<Record<string, string>> = {
  NODE_OPTIONS: `--max-old-space-size=${HUB_HEAP_MB}`,
  HUB_TOKEN_RATE_LIMIT: '1000000',
  HUB_GRAPHQL_RATE_LIMIT: '1000000',
};

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const ACCESS_TOKEN = 'urn:ietf:params:oauth:token-type:access_token';
const AGENT = { id: 'agt_01J0000000000000000000MIXA', secret: 'bench-mix-agent-secret', scopes: ['orders:read', 'contact:read'] };
const MARKETER = { id: 'agt_01J0000000000000000000MIXM', secret: 'bench-mix-marketer-secret', scopes: ['audience:read', 'profile:read', 'contact:read', 'preferences:read'] };
const AUDIENCE_QUERY = '{ audience(purpose: "email_marketing", first: 50) { edges { node { id email country preferences { interests } } } pageInfo { hasNextPage endCursor } } }';
const CONSENT_CHANGE = 'mutation { giveConsent(input: { purpose: "personalization" }) { id status } }';
/** Connections that change consents, each for a user of its own. */
const CONSENT_CHANGERS = 2;

const basic = (client: { id: string; secret: string }) => `Basic ${Buffer.from(`${client.id}:${client.secret}`).toString('base64')}`;

/** An operator-owned client with a known secret on the database; idempotent. */
async function ensureClient(db: Db, client: { id: string; secret: string; scopes: string[] }): Promise<void> {
  await ensureBenchClient(db, client.id, client.scopes);
  await db.insertInto('agent_secrets').values({ agent_id: client.id, secret_hash: hashClientSecret(client.secret) }).onConflict((oc) => oc.doNothing()).execute();
}

async function post(hub: HubProcess, path: string, body: string, headers: Record<string, string>): Promise<any> {
  const response = await fetch(`${hub.url}${path}`, { method: 'POST', headers, body });
  const json = (await response.json()) as any;
  if (!response.ok || json.errors) throw new Error(`${path} failed: ${JSON.stringify(json).slice(0, 500)}`);
  return json;
}

/**
 * The workloads of the mix on a seeded database (users with orders, and consents to email
 * marketing): profile reads, agent reads under a user's consent, token exchanges, consent
 * changes and audience pages. Each is checked once before it is measured.
 */
export async function prepareLoadMix(db: Db, hub: HubProcess, seconds: number): Promise<Record<string, HttpLoad>> {
  await ensureClient(db, AGENT);
  await ensureClient(db, MARKETER);
  const reader = await userWithTenOrders(db);
  // Consent changes come from many people, each changing their own: one per connection, as
  // two connections of one person would take turns on the lock that serializes their changes.
  // Seeded customers (those with orders), who sign in with the seed's password: other benches make
  // users of their own on the same database.
  const changers = await db
    .selectFrom('users')
    .select('email')
    .where('status', '=', 'active')
    .where('email', 'is not', null)
    .where('id', '!=', reader.id)
    .where('id', 'in', (eb) => eb.selectFrom('orders').select('user_id'))
    .orderBy('id')
    .limit(CONSENT_CHANGERS)
    .execute();
  if (changers.length < CONSENT_CHANGERS) throw new Error(`the mix needs ${CONSENT_CHANGERS} users besides the reader`);
  const readerToken = await signIn(hub, reader.email);
  const changerTokens = await Promise.all(changers.map((changer) => signIn(hub, changer.email!)));
  const json = { 'content-type': 'application/json' };
  await post(hub, '/graphql', JSON.stringify({ query: `mutation { giveConsent(input: { purpose: "support", agentId: "${AGENT.id}", scopes: ["orders:read", "contact:read"] }) { id } }` }), { ...json, authorization: `Bearer ${readerToken}` });
  const form = { 'content-type': 'application/x-www-form-urlencoded', authorization: basic(AGENT) };
  // The agent is handed a session of its own: the one exchanged is the agent's, no longer the reader's.
  const exchangeBody = new URLSearchParams({ grant_type: EXCHANGE, subject_token: await signIn(hub, reader.email), subject_token_type: ACCESS_TOKEN }).toString();
  const agentToken: string = (await post(hub, '/oauth/token', exchangeBody, form)).access_token;
  const marketerToken: string = (await post(hub, '/oauth/token', 'grant_type=client_credentials', { ...form, authorization: basic(MARKETER) })).access_token;
  await expectData(hub, ME_QUERY, readerToken);
  await expectData(hub, AGENT_QUERY, agentToken);
  await expectData(hub, AUDIENCE_QUERY, marketerToken);

  const graphql = (query: string, token: string, connections: number): HttpLoad => ({
    url: `${hub.url}/graphql`,
    body: JSON.stringify({ query }),
    headers: { authorization: `Bearer ${token}` },
    connections,
    seconds,
    verifyBody: graphqlServed,
  });
  return {
    'profile reads (me, 10 orders)': graphql(ME_QUERY, readerToken, 4),
    'agent reads (delegated me: contact, 10 orders)': graphql(AGENT_QUERY, agentToken, 4),
    'token exchanges (RFC 8693)': { url: `${hub.url}/oauth/token`, body: exchangeBody, headers: form, connections: 2, seconds, verifyBody: tokenServed },
    'consent changes (giveConsent, superseding)': {
      ...graphql(CONSENT_CHANGE, changerTokens[0]!, CONSENT_CHANGERS),
      connectionHeaders: changerTokens.map((token) => ({ authorization: `Bearer ${token}` })),
    },
    'audience pages (email_marketing, 50 members)': graphql(AUDIENCE_QUERY, marketerToken, 2),
  };
}

/** Resident memory of a process now and at its peak, in MiB, from /proc (Linux). */
export function memoryOf(pid: number): { rss: number; peak: number } {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(status)?.[1] ?? NaN);
  return { rss: kib('VmRSS') / 1_024, peak: kib('VmHWM') / 1_024 };
}

export interface LoadMixResult {
  /** Each workload, then all of them together. */
  readonly rows: Row[];
  /** The hub's peak resident memory over its whole life, in MiB. */
  readonly peakMb: number;
  /** Non-2xx answers, refused bodies, socket errors and timeouts, over every workload. */
  readonly errors: number;
}

/** Runs every workload at once for their duration while sampling the hub's memory. */
export async function runLoadMix(hub: HubProcess, loads: Record<string, HttpLoad>): Promise<LoadMixResult> {
  const pid = hub.child.pid!;
  let peakMb = memoryOf(pid).peak;
  const sampler = setInterval(() => (peakMb = Math.max(peakMb, memoryOf(pid).rss)), 250);
  try {
    const results = await Promise.all(Object.entries(loads).map(async ([workload, load]) => ({ workload, hub: await measureHttp(load) })));
    peakMb = Math.max(peakMb, memoryOf(pid).peak);
    const total: Figures = {
      rate: results.reduce((sum, r) => sum + r.hub.rate, 0),
      p50: Math.max(...results.map((r) => r.hub.p50)),
      p99: Math.max(...results.map((r) => r.hub.p99)),
      errors: results.reduce((sum, r) => sum + r.hub.errors, 0),
    };
    return { rows: [...results, { workload: 'all together (p50/p99: the slowest workload)', hub: total }], peakMb, errors: total.errors };
  } finally {
    clearInterval(sampler);
  }
}

/** The peak memory against its goal, as one report line. */
export function memoryLine(peakMb: number): string {
  const verdict = peakMb < MEMORY_GOAL_MIB ? '✓' : '✗';
  return `Peak resident memory of the hub: ${peakMb.toFixed(0)} MiB, with --max-old-space-size=${HUB_HEAP_MB} (goal: under 400 MB, ${MEMORY_GOAL_MIB.toFixed(0)} MiB) ${verdict}`;
}
