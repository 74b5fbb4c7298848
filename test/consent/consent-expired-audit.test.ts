import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// README (Development, the killed-hub test): "every ledger event has its audit event and every
// consent audit event its ledger event". A consent that lapsed is now recorded as `expired` in
// the ledger when a request of the user sweeps it up (withdrawConsent, a new consent, an
// erasure), and its refresh tokens are revoked then; but nothing of that reaches the audit trail:
// the user's withdrawConsent request changed the consent's state and wrote its ledger, and the
// trail holds no event of it at all, where it held a consent.withdrawn before.
const clock = fixedClock(new Date());
let hub: Hub;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  assistant = await registerAgent(hub, await operatorToken(hub), { name: 'Assistant', allowedScopes: ['orders:read'] });
});
afterAll(() => hub.close());

describe('a lapsed consent the user then withdraws', () => {
  it('has an audit event for every ledger event', async () => {
    const alice = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 86_400_000).toISOString();
    const given = await graphql<any>(hub, 'mutation($input: GiveConsentInput!) { giveConsent(input: $input) { id } }', {
      token: alice.accessToken,
      variables: { input: { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt } },
    });
    const id = given.data.giveConsent.id as string;
    clock.advance(2 * 86_400);
    const session = await signIn(hub, alice);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: session.accessToken, variables: { id } });
    expect(withdrawn.errors).toBeUndefined();

    await hub.services.audit.flush();
    const ledger = await hub.services.db.selectFrom('consent_events').select('kind').where('consent_id', '=', id).orderBy('id').execute();
    const audited = await hub.services.db.selectFrom('audit_events').select('action').where('consent_id', '=', id).where('action', 'like', 'consent.%').execute();
    expect(ledger.map((e) => e.kind)).toEqual(['given', 'expired']);
    expect(audited.map((a) => a.action).sort(), 'the expired ledger event has no audit event').toHaveLength(ledger.length);
  });
});
