import { createLocalJWKSet, jwtVerify, type JSONWebKeySet } from 'jose';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { verifyAuditChains } from '../../src/audit/audit.verify.js';
import { HUB_READY_WITHIN_MS, startHubProcess, type HubProcess } from '../../bench/lib/setup.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { applyChange, consentChange, mulberry32, readConsentStates, sameStates, type Change, type ConsentStates } from './consent-model.js';

/** Replay a failure with KILL_SEED=<the seed in the test name>. */
const SEED = Number(process.env.KILL_SEED ?? 20260611);
const ROUNDS = 6;
const USERS = 6;
const OPERATOR = { id: 'agt_kill_test_operator', secret: 'kill-test-operator-secret-not-for-production' };
/** Names the killed hub's connections, so the test can wait until the server has ended them all. */
const APPLICATION = 'hub-killed-mid-change';
/** How long the server may take to end the killed hub's sessions. */
const BACKENDS_GONE_WITHIN_MS = 10_000;
/**
 * A bound that only a hang reaches: each of the ROUNDS + 1 starts and each wait for the killed
 * hub's sessions within its own deadline, and a minute for the requests and checks. Starting a
 * hub process is most of the run, several times slower on a machine that runs other suites.
 */
const TEST_TIMEOUT_MS = (ROUNDS + 1) * HUB_READY_WITHIN_MS + ROUNDS * BACKENDS_GONE_WITHIN_MS + 60_000;
/** One issuer across restarts on new ports, so the users' tokens stay good. */
const ISSUER = 'https://hub.example';

// SIGKILL of a hub process on a PostgreSQL server: the process dies between any two statements of
// a consent change (or mid-COMMIT), and the server rolls back what it had not committed. PGlite
// lives inside the hub's process and dies with it, so there is nothing of the kind to test there.
describe.skipIf(!testServerUrl())(`a hub killed in the middle of consent changes (seed ${SEED})`, () => {
  let database: TestDatabase;
  let hubUrl: string;
  let hub: HubProcess | undefined;
  beforeAll(async () => {
    database = await createTestDatabase();
    const url = new URL(database.url!);
    url.searchParams.set('application_name', APPLICATION);
    hubUrl = url.toString();
  });
  afterAll(async () => {
    if (hub && hub.child.exitCode === null && hub.child.signalCode === null) await hub.stop();
    await database.close();
  });

  const start = () => startHubProcess({ DATABASE_URL: hubUrl, HUB_ISSUER: ISSUER, LOG_LEVEL: 'silent', HUB_BOOTSTRAP_CLIENT_ID: OPERATOR.id, HUB_BOOTSTRAP_CLIENT_SECRET: OPERATOR.secret, HUB_TOKEN_RATE_LIMIT: '1000000' });

  async function call(query: string, variables: Record<string, unknown>, token?: string): Promise<any> {
    const response = await fetch(`${hub!.url}/graphql`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      body: JSON.stringify({ query, variables }),
    });
    const body = (await response.json()) as { data?: any; errors?: unknown };
    if (response.status !== 200 || body.errors) throw new Error(`the hub refused a valid request: ${response.status} ${JSON.stringify(body).slice(0, 300)}`);
    return body.data;
  }

  /** The server's backends still serving the killed hub; a COMMIT it had sent completes before they go. */
  const hubBackends = async () =>
    Number((await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where application_name = ${APPLICATION}`.execute(database.db)).rows[0]!.n);

  it('keeps the ledger, consent state and audit trail consistent, and loses no acknowledged change', async () => {
    hub = await start();
    const form = new URLSearchParams({ grant_type: 'client_credentials' });
    const auth = `Basic ${Buffer.from(`${OPERATOR.id}:${OPERATOR.secret}`).toString('base64')}`;
    const admin = ((await (await fetch(`${hub.url}/oauth/token`, { method: 'POST', body: form, headers: { authorization: auth } })).json()) as any).access_token;
    const registered = await call('mutation($i: RegisterAgentInput!) { registerAgent(input: $i) { clientId } }', { i: { name: 'Assistant', kind: 'AI_AGENT', allowedScopes: ['orders:read', 'contact:read'] } }, admin);
    const agentId: string = registered.registerAgent.clientId;
    const users: { id: string; token: string; states: ConsentStates }[] = [];
    for (let i = 0; i < USERS; i++) {
      const input = { email: `killed-${i}-${SEED}@example.com`, password: 'correct horse battery staple 42' };
      const { signUp } = await call('mutation($i: SignUpInput!) { signUp(input: $i) { accessToken user { id } } }', { i: input });
      users.push({ id: signUp.user.id, token: signUp.accessToken, states: new Map() });
    }
    expect(await hubBackends()).toBeGreaterThan(0);

    let acknowledged = 0;
    let inFlightAtKill = 0;
    for (let round = 0; round < ROUNDS; round++) {
      if (round > 0) hub = await start();
      const rng = mulberry32(SEED + round);
      let killing = false;
      const inFlight = new Map<string, Change>();
      let ackedThisRound = 0;
      let warm: () => void;
      const warmedUp = new Promise<void>((resolve) => (warm = resolve));
      const workers = users.map(async (user, u) => {
        const next = mulberry32(SEED * 31 + round * 997 + u);
        while (!killing) {
          const change = consentChange(next, user.states, agentId);
          inFlight.set(user.id, change);
          let data: any;
          try {
            data = await call(change.mutation, change.variables, user.token);
          } catch (error) {
            if (killing) return;
            throw error;
          }
          user.states = applyChange(user.states, change, data.change.id);
          inFlight.delete(user.id);
          acknowledged++;
          if (++ackedThisRound === USERS) warm();
        }
      });
      // Killed at a random point once changes flow: a fresh process answers its first ones slowly.
      await Promise.race([warmedUp, Promise.all(workers)]);
      await new Promise((resolve) => setTimeout(resolve, Math.floor(rng() * 600)));
      killing = true;
      hub.child.kill('SIGKILL');
      await Promise.all(workers);
      inFlightAtKill += inFlight.size;
      await expect.poll(hubBackends, { timeout: BACKENDS_GONE_WITHIN_MS }).toBe(0);

      // Each user's consents are what the acknowledged changes made, with the one change in flight
      // at the kill either wholly applied or not at all.
      for (const user of users) {
        const actual = await readConsentStates(database.db, user.id);
        const change = inFlight.get(user.id);
        const candidates = [user.states];
        if (change?.kind === 'withdraw') candidates.push(applyChange(user.states, change));
        const added = [...actual.keys()].filter((id) => !user.states.has(id));
        if (change?.kind === 'give' && added.length === 1) candidates.push(applyChange(user.states, change, added[0]));
        expect(candidates.some((candidate) => sameStates(candidate, actual)), `user ${user.id} after kill ${round + 1}`).toBe(true);
        user.states = actual;
      }
    }
    expect(acknowledged).toBeGreaterThan(0);
    expect(inFlightAtKill).toBeGreaterThan(0);

    // Restarted once more, the hub serves the same state it left in the database.
    hub = await start();
    for (const user of users) {
      const { me } = await call('{ me { consents { id status } } }', {}, user.token);
      expect(new Map(me.consents.map((c: any) => [c.id, c.status.toLowerCase()]))).toEqual(new Map([...user.states].map(([id, s]) => [id, s.status])));
    }

    // Every consent's state is the fold of its ledger events: one `given` first, then at most one `withdrawn`.
    const consents = await database.db.selectFrom('consents').selectAll().orderBy('id').execute();
    const events = await database.db.selectFrom('consent_events').selectAll().orderBy('id').execute();
    expect(consents.length).toBeGreaterThan(USERS);
    for (const consent of consents) {
      const own = events.filter((e) => e.consent_id === consent.id);
      expect(own[0], `the given event of ${consent.id}`).toMatchObject({ kind: 'given', user_id: consent.user_id, occurred_at: consent.given_at });
      const withdrawals = own.slice(1);
      expect(withdrawals.every((e) => e.kind === 'withdrawn') && withdrawals.length <= 1, `the events of ${consent.id}`).toBe(true);
      expect({ status: consent.status, withdrawnAt: consent.withdrawn_at }).toEqual(
        withdrawals[0] ? { status: 'withdrawn', withdrawnAt: withdrawals[0].occurred_at } : { status: 'active', withdrawnAt: null },
      );
    }

    // Every ledger event has its audit event, and every consent change audited its ledger event.
    const audited = await database.db.selectFrom('audit_events').select(['consent_id', 'action']).where('action', 'in', ['consent.given', 'consent.withdrawn']).where('decision', '=', 'allow').execute();
    const key = (consentId: string | null, kind: string) => `${consentId} ${kind}`;
    expect(audited.map((a) => key(a.consent_id, a.action.replace('consent.', ''))).sort()).toEqual(events.map((e) => key(e.consent_id, e.kind)).sort());
    const verification = await verifyAuditChains(database.db);
    expect(verification.broken).toBeUndefined();
    expect(verification.events).toBeGreaterThanOrEqual(audited.length);

    // Every receipt verifies against the restarted hub's published receipt keys and names its consent.
    const keys = createLocalJWKSet((await (await fetch(`${hub.url}/receipts/jwks.json`)).json()) as JSONWebKeySet);
    for (const consent of consents) {
      const { payload } = await jwtVerify(consent.receipt!, keys, { typ: 'consent-receipt+jwt', issuer: ISSUER });
      expect(payload).toMatchObject({ consentReceiptID: consent.id, piiPrincipalId: consent.user_id });
    }
  }, TEST_TIMEOUT_MS);
});
