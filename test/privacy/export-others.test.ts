import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';
import { exportOf } from './privacy-fixtures.js';

// A person's export lists what they did about others (`actions`) without what is those others':
// decommissioning her agent, Alice withdraws Bob's consent to it, which the API never shows her.

const clock = fixedClock('2031-03-01T09:00:00Z');
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
});
afterAll(() => hub.close());

describe('the export of an agent’s owner', () => {
  let alice: Awaited<ReturnType<typeof signUpUser>>;
  let bob: Awaited<ReturnType<typeof signUpUser>>;
  let agentId: string;
  let bobConsent: string;

  beforeAll(async () => {
    alice = await signUpUser(hub);
    bob = await signUpUser(hub);
    agentId = (await registerAgent(hub, alice.accessToken, { name: 'Alice’s helper', allowedScopes: ['orders:read'] })).id;
    bobConsent = await giveConsent(hub, bob.accessToken, { purpose: 'support', agentId, scopes: ['orders:read'] });
    const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', {
      token: alice.accessToken,
      variables: { id: agentId },
      headers: { 'x-request-id': 'alice-decommissions' },
    });
    expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');
    await hub.services.audit.flush();
  });

  it('shows that she withdrew a consent with her agent, not whose, nor for what', async () => {
    const { status, body } = await exportOf(hub, alice.id, alice.accessToken);
    expect(status).toBe(200);
    expect(body.actions).toEqual([
      {
        id: expect.stringMatching(/^evt_/),
        occurredAt: '2031-03-01T09:00:00.000Z',
        action: 'consent.withdrawn',
        actor: { kind: 'user', id: alice.id },
        actorChain: [],
        subjectUserId: null,
        clientId: 'hub-frontend',
        purpose: null,
        consentId: null,
        fieldsRead: [],
        fieldsDenied: [],
        decision: 'ALLOW',
        reason: null,
        requestId: 'alice-decommissions',
        detail: {},
      },
    ]);
    const document = JSON.stringify(body);
    expect(document).not.toContain(bob.id);
    expect(document).not.toContain(bobConsent);
    // Her own decommissioning, in the same request, is in her access log, naming her agent.
    expect(body.accessLog).toContainEqual(expect.objectContaining({ action: 'agent.decommissioned', requestId: 'alice-decommissions', detail: expect.objectContaining({ agentId }) }));
  });

  it('leaves the withdrawal whole in the export of the person it is about', async () => {
    const { body } = await exportOf(hub, bob.id, bob.accessToken);
    expect(body.accessLog).toContainEqual(
      expect.objectContaining({ action: 'consent.withdrawn', actor: { kind: 'user', id: alice.id }, subjectUserId: bob.id, consentId: bobConsent, purpose: 'support', detail: { reason: 'agent decommissioned' } }),
    );
  });
});
