/**
 * `accessReview` on a large register: 10,000 agents (some suspended, decommissioned, expiring or
 * sub-agents), 20,000 consents naming them and 100,000 reads by them in the audit trail over
 * 120 days, seeded once into the bench database. The hub answers the whole review (one page of
 * the register and of the findings) over HTTP, one request at a time (a review is an operator's
 * report, not a hot path); the floor is the review's one statement of raw SQL over the same pool,
 * without GraphQL and the findings. Run: `npx tsx bench/access-review.ts` or
 * `npm run bench -- access-review` (BENCH_DATABASE_URL, BENCH_SECONDS).
 */
import { randomBytes } from 'node:crypto';
import { sql, type Insertable } from 'kysely';
import { findAgentFacts } from '../src/agents/access-review.queries.js';
import { MAX_REVIEWED_AGENTS } from '../src/agents/access-review.service.js';
import { appendAuditEvents } from '../src/audit/audit.append.js';
import { ensureAuditPartitions } from '../src/audit/audit.queries.js';
import type { Db } from '../src/db/connect.js';
import type { AgentsTable } from '../src/db/database.js';
import { newId } from '../src/shared/ids.js';
import { graphqlServed, markdownTable, measureCalls, measureHttp, type Row } from './lib/measure.js';
import { BENCH_SECONDS, benchClientToken, machine, openBenchDatabase, startHubProcess, type HubProcess } from './lib/setup.js';
import { ensureSeeded, expectData } from './profile.js';

const AGENTS = 10_000;
const CONSENTS = 20_000;
const EVENTS = 100_000;
const NAME = 'Access review bench agent';
const MARK = 'bench-access-review';
const DAY_MS = 86_400_000;

export const REVIEW_QUERY = `{ accessReview {
  agentCount complete summary { kind count }
  register(first: 100) { edges { node { agent { id status allowedScopes expiresAt } lastActiveAt credentialAgeDays liveConsentCount unusedScopes findings } } }
  findings(first: 100) { totalCount edges { node { kind reason scopes consentCount agent { id } } } }
} }`;

/** mulberry32: a small deterministic generator, so every seeded bench database holds the same shape. */
function random(seed: number) {
  let state = seed >>> 0;
  return () => {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

const SCOPE_SETS = [['orders:read'], ['orders:read', 'contact:read'], ['contact.email:read', 'preferences:read'], ['orders:read', 'contact:read', 'payment:read']];
const FIELD_SETS = [['orders'], ['email', 'orders'], ['email', 'phone'], ['preferences'], ['email']];

/** Seeds the register once: agents with their secrets, consents, then the audit reads. */
async function ensureRegister(db: Db): Promise<void> {
  await ensureSeeded(db);
  const { count } = await db.selectFrom('agents').select((eb) => eb.fn.countAll<number>().as('count')).where('name', '=', NAME).executeTakeFirstOrThrow();
  if (Number(count) >= AGENTS) return;
  const next = random(42);
  const pick = <T>(list: readonly T[]) => list[Math.floor(next() * list.length)]!;
  const now = Date.now();
  const agents: { id: string; parent: string | null; scopes: string[] }[] = [];
  const rows: Insertable<AgentsTable>[] = [];
  const created: Date[] = [];
  for (let i = 0; i < AGENTS; i++) {
    const parent = i > 100 && next() < 0.1 ? pick(agents.slice(0, 100)) : undefined;
    const scopes = parent ? parent.scopes.slice(0, 1) : pick(SCOPE_SETS);
    const agent = { id: newId('agt'), parent: parent?.id ?? null, scopes };
    agents.push(agent);
    const roll = next();
    created.push(new Date(now - (400 - i * (300 / AGENTS)) * DAY_MS));
    rows.push({
      id: agent.id,
      name: NAME,
      kind: 'ai_agent',
      description: null,
      status: roll < 0.05 ? 'suspended' : roll < 0.07 ? 'decommissioned' : 'active',
      suspended_by: roll < 0.05 ? 'operator' : null,
      allowed_scopes: scopes,
      owner_kind: 'operator',
      owner_user_id: null,
      parent_agent_id: agent.parent,
      ancestor_ids: agent.parent ? [agent.parent] : [],
      created_at: created[i]!,
      expires_at: next() < 0.1 ? new Date(now + next() * 60 * DAY_MS) : null,
      last_used_at: next() < 0.8 ? new Date(now - next() * 200 * DAY_MS) : null,
    });
  }
  const users = (await db.selectFrom('users').select('id').where('status', '=', 'active').limit(2_000).execute()).map((u) => u.id);
  await db.transaction().execute(async (tx) => {
    for (let i = 0; i < rows.length; i += 1_000) await tx.insertInto('agents').values(rows.slice(i, i + 1_000)).execute();
    const secrets = agents.map((a, i) => ({ agent_id: a.id, secret_hash: randomBytes(32), created_at: new Date(Math.min(now, created[i]!.getTime() + next() * 300 * DAY_MS)) }));
    for (let i = 0; i < secrets.length; i += 1_000) await tx.insertInto('agent_secrets').values(secrets.slice(i, i + 1_000)).execute();
    const pairs = new Set<string>();
    const consents = [];
    while (consents.length < CONSENTS) {
      const agent = pick(agents);
      const user = pick(users);
      if (pairs.has(`${agent.id}:${user}`)) continue;
      pairs.add(`${agent.id}:${user}`);
      consents.push({ id: newId('cns'), user_id: user, purpose: 'support', agent_id: agent.id, scopes: agent.scopes.filter((s) => !s.startsWith('payment') && !s.startsWith('preferences')), given_at: new Date(now - next() * 200 * DAY_MS), collection_method: MARK, policy_version: '1' });
    }
    for (let i = 0; i < consents.length; i += 1_000) await tx.insertInto('consents').values(consents.slice(i, i + 1_000)).execute();
  });
  // Partitions for the months the reads fall in, before any of them lands in the default partition.
  for (let month = 5; month >= 0; month--) await ensureAuditPartitions(db, new Date(now - month * 30 * DAY_MS));
  console.error(`seeded ${AGENTS} agents and ${CONSENTS} consents; appending ${EVENTS} audited reads ...`);
  for (let i = 0; i < EVENTS; i += 5_000) {
    const events = Array.from({ length: 5_000 }, () => {
      const agent = pick(agents);
      return {
        action: 'profile.read' as const,
        actor: { kind: 'delegated' as const, id: agent.id },
        actorChain: agent.parent ? [agent.id, agent.parent] : [agent.id],
        clientId: agent.id,
        subjectUserId: pick(users),
        fieldsRead: pick(FIELD_SETS),
        decision: 'ALLOW' as const,
        requestId: MARK,
        occurredAt: new Date(now - next() * 120 * DAY_MS),
      };
    });
    await appendAuditEvents(db, events, new Date());
  }
  // Sets the visibility map, as autovacuum would in time, so reads of the window can be index-only.
  await sql`vacuum analyze audit_events`.execute(db);
}

/** A client token with agents:admin signed with the hub's own key, read from the shared database. */
async function adminToken(db: Db, hub: HubProcess): Promise<string> {
  return benchClientToken(db, hub, 'agt_01J0000000000000000000REVW', ['agents:admin']);
}

export async function benchAccessReview(): Promise<Row[]> {
  const database = await openBenchDatabase();
  await ensureRegister(database.db);
  const hub = await startHubProcess();
  try {
    const token = await adminToken(database.db, hub);
    await expectData(hub, REVIEW_QUERY, token);
    const seconds = BENCH_SECONDS;
    const review = await measureHttp({ url: `${hub.url}/graphql`, body: JSON.stringify({ query: REVIEW_QUERY }), headers: { authorization: `Bearer ${token}` }, connections: 1, seconds, verifyBody: graphqlServed });
    const floor = await measureCalls(
      () => {
        const now = new Date();
        return findAgentFacts(database.db, { since: new Date(now.getTime() - 90 * DAY_MS), now }, MAX_REVIEWED_AGENTS + 1);
      },
      { concurrency: 1, seconds },
    );
    return [{ workload: `accessReview: ${AGENTS.toLocaleString('en-US')} agents, ${EVENTS.toLocaleString('en-US')} audited reads (floor: its statement in raw SQL)`, hub: review, floor }];
  } finally {
    await hub.stop();
    await database.close();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const rows = await benchAccessReview();
  console.log(`\nThe access review on ${machine()}\n\n${markdownTable(rows)}`);
}
