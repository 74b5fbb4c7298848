import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { EXPORT_SCOPES } from '../../src/authz/privacy-access.js';
import { loadConfig } from '../../src/config.js';
import { exportUserData } from '../../src/privacy/export.service.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, clientToken, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken } from '../helpers/oauth.js';
import { ERASE } from './privacy-fixtures.js';

// An export outlives its request for as long as its reader reads. One an operator's desk began
// for a person who is then erased must end there, as one the person began does (their token no
// longer stands): an erased person has no data left to access, and is answered 404 from then on.

let hub: Hub;
const ORDERS = 1_500;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
});
afterAll(() => hub.close());

describe('an operator’s export of a person erased while it runs', () => {
  it('hands over no more pages once the erasure commits, and is audited as cut short', async () => {
    const admin = await operatorToken(hub);
    const desk = await clientToken(hub, ['users:admin', ...EXPORT_SCOPES], 'agt_01J0000000000000000000DESK');
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    await hub.services.db
      .insertInto('orders')
      .values(Array.from({ length: ORDERS }, (_, i) => ({ id: `ord_${String(i).padStart(5, '0')}_${user.id}`, user_id: user.id, placed_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)), total_minor: 100 + i, currency: 'EUR', status: 'paid' as const, line_items: '[]' })))
      .execute();
    const principal = await hub.services.tokens.authenticate(desk);
    const recheckToken = async () => void (await hub.services.tokens.authenticate(desk));
    const chunks = await exportUserData(hub.services, { principal, requestId: null }, user.id, recheckToken);
    let before = '';
    let after = '';
    let erased = false;
    let cutShort = false;
    try {
      for await (const chunk of chunks) {
        if (erased) after += chunk;
        else before += chunk;
        if (!erased && before.includes('"orders"')) {
          const response = await graphql<any>(hub, ERASE, { token: admin, variables: { id: user.id } });
          expect(response.data.eraseUser.alreadyErased).toBe(false);
          erased = true;
        }
      }
    } catch {
      cutShort = true;
    }
    expect(erased).toBe(true);
    expect(cutShort).toBe(true);
    // At most the page read ahead; never the rest of the record, the ledger and the trail.
    expect(after.match(/"ord_\d{5}_/g)?.length ?? 0).toBeLessThanOrEqual(500);
    expect(after).not.toContain('"consents"');
    expect(after).not.toContain('"accessLog"');
    await hub.services.audit.flush();
    const exported = await findAuditEvents(hub.services.db, { filter: { userId: user.id, action: 'data.exported' } });
    expect(exported.edges.map((e) => e.node.detail)).toEqual([expect.objectContaining({ complete: false })]);
  });
});
