import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { findDeliveriesOfSubscriptions } from '../../src/webhooks/delivery-log.queries.js';
import { planOfStatement, startCountedHub, StatementLog } from '../helpers/statements.js';

const log = new StatementLog();
let hub: Hub;
beforeAll(async () => {
  hub = await startCountedHub(log, { HUB_WEBHOOK_WORKER: 'false' });
  const db = hub.services.db;
  await sql`insert into webhook_subscriptions (id, url, event_types, secret_sealed, created_at, updated_at)
    values ('whk_1', 'https://hooks.example.com/in', '{consent.given}', '\\x00', now(), now())`.execute(db);
  await sql`insert into webhook_messages (id, event_type, body, created_at)
    select 'msg_' || lpad(i::text, 8, '0'), 'consent.given', '{}', now() from generate_series(1, 20000) i`.execute(db);
  // A receiver that took every message: none of its deliveries failed.
  await sql`insert into webhook_deliveries (subscription_id, message_id, status, trigger, attempt_count, delivered_at, created_at)
    select 'whk_1', 'msg_' || lpad(i::text, 8, '0'), 'succeeded', 'scheduled', 1, now(), now() from generate_series(1, 20000) i`.execute(db);
  await sql`analyze webhook_deliveries`.execute(db);
});
afterAll(() => hub.close());

describe("a subscription's delivery log filtered on a status", () => {
  it('reads the deliveries of that status through an index, not every delivery of the subscription', async () => {
    const pages = await log.during(() => findDeliveriesOfSubscriptions(hub.services.db, ['whk_1'], { limit: 6, status: 'failed' }));
    expect(pages.get('whk_1')).toBeUndefined();
    const [statement] = log.matching('from webhook_deliveries d');
    expect(statement).toBeDefined();
    const plan = await planOfStatement(hub.services.db, statement!, "('{whk_1}', 'failed', 6)");
    expect(plan).toContain('webhook_deliveries_subscription_status');
    expect(plan).toMatch(/Index Cond: \(\(subscription_id = k\.id\) AND \(status = 'failed'::text\)\)/);
  });
});
