import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { AudienceReadsBusyError, MAX_AUDIENCE_READS_PER_CLIENT, limitAudienceReads } from '../../src/audiences/audience.reads.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';

/**
 * An audience's count or page scans every customer, and can take seconds on a large one: the
 * lock held on `audience_members` here makes each wait as long as the test likes, holding the
 * connection it runs on. What one marketing client asks for at once must leave the pool's other
 * connections to everyone else.
 */
describe.skipIf(testServerUrl() === undefined)('audience statements and the pool of connections', () => {
  let hub: Hub;
  let marketing: string;
  let other: string;
  let customer: string;
  // The lock and the look at who waits go through connections of their own, outside the hub's pool.
  let outside: DatabaseHandle;
  beforeAll(async () => {
    const database = await createTestDatabase();
    outside = openDatabase({ url: database.url! });
    hub = await createHub(loadConfig(TEST_ENV), { database });
    marketing = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000POOL');
    other = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J00000000000000000OTHER');
    customer = (await signUpUser(hub)).accessToken;
  });
  afterAll(async () => {
    await outside.close();
    await hub.close();
  });
  const { holding, waiting, waiters } = lockHolder(() => outside.db);

  /** One request holding 15 counts of the whole audience, as aliases allow. */
  const COUNTS = `{ ${Array.from({ length: 15 }, (_, i) => `a${i}: audience(purpose: "email_marketing", first: 0) { totalCount }`).join(' ')} }`;

  it('leaves connections to other callers while one client’s counts wait', async () => {
    const lock = await holding((tx) => sql`lock table audience_members in access exclusive mode`.execute(tx));
    const counts = graphql<any>(hub, COUNTS, { token: marketing });
    await waiters(MAX_AUDIENCE_READS_PER_CLIENT);
    // Every count the pool let through is waiting by now.
    await new Promise((resolve) => setTimeout(resolve, 300));
    const started = Date.now();
    const me = await graphql<any>(hub, '{ me { id email } }', { token: customer });
    expect(me.errors).toBeUndefined();
    expect(me.data.me.email).toMatch(/@/);
    expect(Date.now() - started).toBeLessThan(2_000);
    await lock.release();
    const answered = await counts;
    expect(answered.errors).toBeUndefined();
    expect(Object.values(answered.data).every((a: any) => typeof a.totalCount === 'number')).toBe(true);
  }, 20_000);

  it('gives another client’s audience a turn while one client’s counts wait', async () => {
    const lock = await holding((tx) => sql`lock table audience_members in access exclusive mode`.execute(tx));
    const counts = graphql<any>(hub, COUNTS, { token: marketing });
    await waiters(MAX_AUDIENCE_READS_PER_CLIENT);
    await new Promise((resolve) => setTimeout(resolve, 300));
    // The client's own turns, and no more, are waiting on the lock.
    expect(await waiting()).toBe(MAX_AUDIENCE_READS_PER_CLIENT);
    const page = graphql<any>(hub, '{ audience(purpose: "email_marketing", first: 1) { totalCount } }', { token: other });
    // The other client's count reaches the database beside the first client's, not behind all 15.
    await waiters(MAX_AUDIENCE_READS_PER_CLIENT + 1);
    await lock.release();
    expect((await page).errors).toBeUndefined();
    expect((await counts).errors).toBeUndefined();
  }, 20_000);
});

/**
 * A statement of an audience waits for its turn behind whatever the instance runs already, and
 * every client's requests may pile up there: the wait ends as a statement may run, within
 * HUB_STATEMENT_TIMEOUT, and the statement is then never run.
 */
describe('a wait for an audience statement’s turn', () => {
  let hub: Hub;
  let marketing: string;
  let saved: string;
  /** Ends the statements that hold every turn of the instance. */
  let freeTurns: () => void = () => {};
  beforeAll(async () => {
    hub = await createHub(loadConfig({ ...TEST_ENV, HUB_STATEMENT_TIMEOUT: '1' }), { database: await createTestDatabase() });
    marketing = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J0000000000000000000TURN');
    const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
      token: marketing,
      variables: { input: { name: 'Everyone', purpose: 'email_marketing' } },
    });
    saved = created.data.createAudience.id;
  });
  afterAll(async () => {
    freeTurns();
    await hub.close();
  });

  /** Every turn of the instance taken by statements of other clients that run until `freeTurns`. */
  function holdEveryTurn(): Promise<unknown>[] {
    const ended = new Promise<void>((resolve) => (freeTurns = resolve));
    return ['agt_01J000000000000000000HOGA', 'agt_01J000000000000000000HOGB'].flatMap((client) =>
      Array.from({ length: MAX_AUDIENCE_READS_PER_CLIENT }, () => hub.services.audienceReads(client)(() => ended)),
    );
  }

  it('ends with RATE_LIMITED and retryAfter, and leaves the turns to what comes next', async () => {
    const held = holdEveryTurn();
    const started = Date.now();
    const answer = await graphql<any>(hub, '{ audience(purpose: "email_marketing", first: 0) { totalCount } }', { token: marketing });
    expect(answer.errors?.[0]?.extensions).toEqual({ code: 'RATE_LIMITED', retryAfter: 5 });
    expect(answer.errors?.[0]?.message).toBe('Audience statements are busy on this instance; retry after 5 s');
    expect(Date.now() - started).toBeLessThan(5_000);
    // The turn the wait gave up comes to nothing: freed, the instance runs what comes next at once.
    freeTurns();
    await Promise.all(held);
    const after = await graphql<any>(hub, '{ audience(purpose: "email_marketing", first: 0) { totalCount } }', { token: marketing });
    expect(after.errors).toBeUndefined();
    expect(after.data.audience.totalCount).toBe(0);
  }, 20_000);

  it('takes the statement out of the turns: it never runs, and what came after it does', async () => {
    const reads = limitAudienceReads({ turnWaitMs: 200, max: 1, perClient: 1 });
    let free = () => {};
    const holding = reads('agt_01J000000000000000000HOGA')(() => new Promise<void>((resolve) => (free = resolve)));
    let ran = false;
    await expect(reads('agt_01J0000000000000000000TURN')(async () => void (ran = true))).rejects.toBeInstanceOf(AudienceReadsBusyError);
    const next = reads('agt_01J0000000000000000000TURN')(async () => 'next');
    free();
    await holding;
    expect(await next).toBe('next');
    expect(ran).toBe(false);
  });

  it('passes the client’s own turn on as it gives up, so the client’s next statement keeps its place', async () => {
    // One turn on the instance and one per client: another client's statement holds the instance's.
    const reads = limitAudienceReads({ turnWaitMs: 400, max: 1, perClient: 1 });
    let freeHog = () => {};
    const hog = reads('agt_01J000000000000000000HOGA')(() => new Promise<void>((resolve) => (freeHog = resolve)));
    const mine = reads('agt_01J0000000000000000000TURN');
    const first = mine(async () => 'first');
    first.catch(() => {});
    await new Promise((resolve) => setTimeout(resolve, 200));
    // Asked while the first still waits, behind it for the client's one turn.
    const second = mine(async () => 'second');
    second.catch(() => {});
    await expect(first).rejects.toBeInstanceOf(AudienceReadsBusyError);
    // Another client asks after the first was given up, and the instance's turn frees at once:
    // the second was waiting before it, and runs first, well within its own wait.
    let freeLater = () => {};
    const laterEnds = new Promise<void>((resolve) => (freeLater = resolve));
    const later = reads('agt_01J000000000000000000HOGB')(() => laterEnds);
    later.catch(() => {});
    freeHog();
    await hog;
    try {
      expect(await second).toBe('second');
    } finally {
      freeLater();
    }
  });

  it('refuses an export whose first batch found no turn with 503 and Retry-After', async () => {
    const held = holdEveryTurn();
    const response = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}` } });
    expect(response.statusCode).toBe(503);
    expect(response.headers['retry-after']).toBe('5');
    expect(response.json()).toEqual({ error: 'temporarily_unavailable', error_description: 'Audience statements are busy on this instance; retry after 5 s' });
    freeTurns();
    await Promise.all(held);
    const again = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}` } });
    expect(again.statusCode).toBe(200);
  }, 20_000);

  it('runs an export in the turns of its own client: while they are taken it finds none, and another client’s export runs', async () => {
    let free = () => {};
    const ended = new Promise<void>((resolve) => (free = resolve));
    // Every turn of the exporting client, and no more, taken by its other statements.
    const held = Array.from({ length: MAX_AUDIENCE_READS_PER_CLIENT }, () => hub.services.audienceReads('agt_01J0000000000000000000TURN')(() => ended));
    try {
      const other = await clientToken(hub, ['audience:read', 'profile:read'], 'agt_01J000000000000000000TURN2');
      const created = await graphql<any>(hub, 'mutation($input: CreateAudienceInput!) { createAudience(input: $input) { id } }', {
        token: other,
        variables: { input: { name: 'Everyone', purpose: 'email_marketing' } },
      });
      const theirs = await hub.http.inject({ method: 'GET', url: `/audiences/${created.data.createAudience.id}/export`, headers: { authorization: `Bearer ${other}` } });
      expect(theirs.statusCode).toBe(200);
      const mine = await hub.http.inject({ method: 'GET', url: `/audiences/${saved}/export`, headers: { authorization: `Bearer ${marketing}` } });
      expect([mine.statusCode, mine.headers['retry-after']]).toEqual([503, '5']);
    } finally {
      free();
      await Promise.all(held);
    }
  }, 20_000);
});
