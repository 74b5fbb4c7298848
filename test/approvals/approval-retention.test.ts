import { sql } from 'kysely';
import { describe, expect, it, onTestFinished, vi } from 'vitest';
import { approvalRetention } from '../../src/consent/approval.service.js';
import { ROWS_PER_STATEMENT } from '../../src/shared/housekeeping.js';
import { testServerUrl } from '../helpers/database.js';
import { lockHolder, unlessWaiting } from '../helpers/locks.js';
import { approvalWorld } from './approval-fixtures.js';

const PAYMENT = { amount: '12.5', currency: 'EUR', creditorName: 'Example Shop GmbH', description: 'Order 4711' };
const DAY_SECONDS = 86_400;

/**
 * Approvals an agent asks for end within 15 minutes, and ten may wait at once: an agent asking
 * again as each expires adds 28,800 a day for each user. Kept for ever, they were a table any
 * agent with a checkout consent could grow without end.
 */
const { hub, clock, alice, shopper, agentToken, request, signIn } = await approvalWorld();

describe('approvals past their retention', () => {
  /** Asks alice for a payment as the shopper, with a token from her session signed in now. */
  const ask = async () => {
    const token = await agentToken(shopper, { ...alice, accessToken: (await signIn(alice)).accessToken });
    const asked = await request(token, { action: 'PAY', payment: PAYMENT, expiresInSeconds: 30 });
    return asked.data.requestApproval.id as string;
  };
  const approvalIds = async () => (await sql<{ id: string }>`select id from approvals order by created_at`.execute(hub.services.db)).rows.map((r) => r.id);

  it('are deleted 30 days after they expired, as later requests come', async () => {
    const first = await ask();
    clock.advance(2 * DAY_SECONDS);
    const second = await ask();
    expect(await approvalIds()).toEqual([first, second]);

    // The first expired 30 days and a minute ago, the second 28 days ago.
    clock.advance(28 * DAY_SECONDS + 90);
    const third = await ask();
    expect(await approvalIds()).toEqual([second, third]);
  });

  it('go in statements of at most the rows the housekeeping asks for', async () => {
    const asked = await ask();
    // A burst: an agent that asked again as each approval expired, for a good while.
    await sql`insert into approvals (id, user_id, agent_id, consent_id, authorization_details, status, created_at, expires_at)
      select ${asked} || '_' || g, user_id, agent_id, consent_id, authorization_details, status, created_at, expires_at
      from approvals, generate_series(1, 1199) g where id = ${asked}`.execute(hub.services.db);
    clock.advance(31 * DAY_SECONDS);
    const retention = approvalRetention(hub.services.db);
    const deleted: number[] = [];
    for (let n = await retention.forget(clock.now(), ROWS_PER_STATEMENT); n > 0; n = await retention.forget(clock.now(), ROWS_PER_STATEMENT)) deleted.push(n);
    expect(await approvalIds()).toEqual([]);
    expect(deleted.reduce((a, b) => a + b)).toBeGreaterThanOrEqual(1_200);
    expect(Math.max(...deleted)).toBe(ROWS_PER_STATEMENT);
  });
});

// A row lock held past a statement needs a second connection: PGlite has only one.
describe.skipIf(testServerUrl() === undefined)('approvals past their retention that another transaction holds', () => {
  const { holding } = lockHolder(() => hub.services.db);

  it('are skipped, without waiting for it, and deleted once it lets go', async () => {
    const ask = async () => {
      const token = await agentToken(shopper, { ...alice, accessToken: (await signIn(alice)).accessToken });
      return (await request(token, { action: 'PAY', payment: PAYMENT, expiresInSeconds: 30 })).data.requestApproval.id as string;
    };
    const [held, free] = [await ask(), await ask()];
    clock.advance(31 * DAY_SECONDS);
    const kept = async () => (await sql<{ id: string }>`select id from approvals where id in (${held}, ${free}) order by id`.execute(hub.services.db)).rows.map((r) => r.id);
    // Held as an erasure deleting it, or another instance's pass, holds it.
    const holder = await holding((tx) => sql`select 1 from approvals where id = ${held} for update`.execute(tx));

    const retention = approvalRetention(hub.services.db);
    try {
      expect(await unlessWaiting(retention.forget(clock.now(), ROWS_PER_STATEMENT), 'waited on the held approval')).toBe(1);
      expect(await kept()).toEqual([held]);
    } finally {
      await holder.release();
    }
    expect(await retention.forget(clock.now(), ROWS_PER_STATEMENT)).toBe(1);
    expect(await kept()).toEqual([]);
  });
});

describe('approvals past their retention, on an instance no agent asks approvals of any more', () => {
  it('are deleted all the same, by the hub’s housekeeping', async () => {
    // Made inside a test, where its afterAll never runs: closed as the test ends.
    const idle = await approvalWorld({ housekeepingEveryMs: 50 });
    onTestFinished(() => idle.hub.close());
    const token = await idle.agentToken(idle.shopper, { ...idle.alice, accessToken: (await idle.signIn(idle.alice)).accessToken });
    const asked = await idle.request(token, { action: 'PAY', payment: PAYMENT, expiresInSeconds: 30 });
    const id = asked.data.requestApproval.id as string;
    const kept = async () => (await sql<{ id: string }>`select id from approvals where id = ${id}`.execute(idle.hub.services.db)).rows.length;

    // Expired 30 days less two minutes ago (it expired 30 s after it was asked): the user and
    // the agent still see it in their lists.
    idle.clock.advance(30 * DAY_SECONDS - 90);
    await new Promise((resolve) => setTimeout(resolve, 300));
    expect(await kept()).toBe(1);

    // Expired 30 days and a minute ago, and no request for an approval came since.
    idle.clock.advance(180);
    await vi.waitFor(async () => expect(await kept()).toBe(0), { timeout: 5_000, interval: 50 });
  });
});
