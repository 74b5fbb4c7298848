import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';
import { exportOf } from './privacy-fixtures.js';

// A person's export lists what they did about others (`actions`) without what is those others',
// and a withdrawal that follows from someone else's decommissioning never names them.

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

describe('the export of an agent’s owner, and of a person who consented to it', () => {
  let alice: Awaited<ReturnType<typeof signUpUser>>;
  let bob: Awaited<ReturnType<typeof signUpUser>>;
  let agentId: string;
  let bobConsent: string;

  beforeAll(async () => {
    alice = await signUpUser(hub);
    bob = await signUpUser(hub);
    agentId = (await registerAgent(hub, alice.accessToken, { name: 'Alice’s helper', allowedScopes: ['orders:read'] })).id;
    bobConsent = await giveConsent(hub, bob.accessToken, { purpose: 'support', agentId, scopes: ['orders:read'] });
    // Alice tries to read Bob's profile, which is refused and audited as hers.
    const read = await graphql<any>(hub, 'query($id: ID!) { user(id: $id) { email } }', { token: alice.accessToken, variables: { id: bob.id } });
    expect(read.errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', {
      token: alice.accessToken,
      variables: { id: agentId },
      headers: { 'x-request-id': 'alice-decommissions' },
    });
    expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');
    await hub.services.audit.flush();
  });

  it('shows her refused read of another person, not whose nor what', async () => {
    const { status, body } = await exportOf(hub, alice.id, alice.accessToken);
    expect(status).toBe(200);
    expect(body.actions).toEqual([
      expect.objectContaining({ action: 'profile.read', actor: { kind: 'user', id: alice.id }, decision: 'DENY', subjectUserId: null, consentId: null, purpose: null, fieldsRead: [], fieldsDenied: [], detail: {} }),
    ]);
    const document = JSON.stringify(body);
    expect(document).not.toContain(bob.id);
    expect(document).not.toContain(bobConsent);
    // Her decommissioning is in her access log, naming her agent; the withdrawals it caused are not hers.
    expect(body.accessLog).toContainEqual(expect.objectContaining({ action: 'agent.decommissioned', requestId: 'alice-decommissions', detail: expect.objectContaining({ agentId }) }));
  });

  it('shows the person who consented the withdrawal as the hub’s, naming no owner', async () => {
    const { body } = await exportOf(hub, bob.id, bob.accessToken);
    expect(body.accessLog).toContainEqual(
      expect.objectContaining({ action: 'consent.withdrawn', actor: { kind: 'system', id: null }, subjectUserId: bob.id, consentId: bobConsent, purpose: 'support', detail: { reason: 'agent decommissioned' } }),
    );
    // Alice shows in his log only where she acted on his data herself: her refused read.
    expect(body.accessLog.filter((e: any) => JSON.stringify(e).includes(alice.id)).map((e: any) => e.action)).toEqual(['profile.read']);
  });
});
