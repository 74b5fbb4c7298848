import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { APPROVAL_TTL } from '../../src/consent/approval.input.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { operatorToken, registerAgent } from '../helpers/oauth.js';
import { exportOf, paymentApprovals } from './privacy-fixtures.js';

// An approval's status in a person's export is what the API shows them: one past its expiry,
// answered or not, can do nothing more and is EXPIRED from that very instant, as `approval(id)` says.

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

describe('the approvals of a person’s export, at their expiry', () => {
  it('shows an approval pending or approved and unused as EXPIRED once its expiry has come, as the API does', async () => {
    const grace = await signUpUser(hub);
    const shopper = await registerAgent(hub, await operatorToken(hub), { name: 'Shopping assistant', allowedScopes: ['payment:read', 'payment:write'] });
    const [payment, card] = await paymentApprovals(hub, shopper, grace.accessToken);
    const statuses = async () => {
      const { body } = await exportOf(hub, grace.id, grace.accessToken);
      const exported = Object.fromEntries(body.approvals.map((approval: { id: string; status: string }) => [approval.id, approval.status]));
      const shown: Record<string, string> = {};
      for (const id of [payment!, card!]) {
        const read = await graphql<any>(hub, 'query($id: ID!) { approval(id: $id) { status } }', { token: grace.accessToken, variables: { id } });
        shown[id] = read.data.approval.status;
      }
      return { exported, shown };
    };

    expect(await statuses()).toEqual({ exported: { [payment!]: 'APPROVED', [card!]: 'PENDING' }, shown: { [payment!]: 'APPROVED', [card!]: 'PENDING' } });

    clock.advance(APPROVAL_TTL.default);
    expect(await statuses()).toEqual({ exported: { [payment!]: 'EXPIRED', [card!]: 'EXPIRED' }, shown: { [payment!]: 'EXPIRED', [card!]: 'EXPIRED' } });
  });
});
