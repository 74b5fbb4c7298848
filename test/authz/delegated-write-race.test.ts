import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { definePurpose, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

/**
 * An agent's profile write is decided by the token check as the request begins; its transaction
 * then holds the consent and the agents it stands on (`ConsentService.holdGrant`), so a
 * withdrawal or suspension that commits while the write waits refuses it, as the next request's
 * check would.
 */
const STORED_PHONE = '+4915112345678';
const WRITE = 'mutation { updateProfile(input: { phone: "+4915199999999" }) { id phone } }';

describe.skipIf(testServerUrl() === undefined)('a delegated profile write racing the end of its grant', () => {
  let hub: Hub;
  let admin: string;
  let writer: RegisteredAgent;
  const { holding, waiters } = lockHolder(() => hub.services.db);

  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
    admin = await operatorToken(hub);
    await definePurpose(hub, admin, 'helpdesk_race', ['contact']);
    writer = await registerAgent(hub, admin, { name: 'Writer', allowedScopes: ['contact:read', 'contact:write'] });
  });
  afterAll(() => hub.close());

  async function setUp(agent: RegisteredAgent) {
    const user = await signUpUser(hub);
    await hub.services.db.updateTable('users').set({ phone: STORED_PHONE }).where('id', '=', user.id).execute();
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'helpdesk_race', agentId: agent.id, scopes: ['contact:read', 'contact:write'] });
    const exchanged = await exchange(hub, agent, (await signIn(hub, user)).accessToken);
    expect(exchanged.status).toBe(200);
    return { user, consentId, token: exchanged.body.access_token as string };
  }
  const phoneOf = async (userId: string) => (await hub.services.db.selectFrom('users').select('phone').where('id', '=', userId).executeTakeFirstOrThrow()).phone;

  it('stores nothing once the consent withdrawal has committed before the write', async () => {
    const { user, consentId, token } = await setUp(writer);
    // Holds the user's row (no key update: inserts that reference the user still pass), so the
    // write, past its token check, waits in findUserForUpdate.
    const held = await holding((tx) => sql`select 1 from users where id = ${user.id} for no key update`.execute(tx));
    const write = graphql<any>(hub, WRITE, { token });
    await waiters(1);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: user.accessToken, variables: { id: consentId } });
    expect(withdrawn.data?.withdrawConsent.status).toBe('WITHDRAWN');
    await held.release();
    const written = await write;
    // The withdrawal committed first: the write must not happen.
    expect(await phoneOf(user.id)).toBe(STORED_PHONE);
    expect(written.data?.updateProfile ?? null).toBeNull();
    expect(written.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'CONSENT_WITHDRAWN' });
  });

  it('stores nothing once the agent’s suspension has committed before the write', async () => {
    const agent = await registerAgent(hub, admin, { name: 'Writer 2', allowedScopes: ['contact:read', 'contact:write'] });
    const { user, token } = await setUp(agent);
    const held = await holding((tx) => sql`select 1 from users where id = ${user.id} for no key update`.execute(tx));
    const write = graphql<any>(hub, WRITE, { token });
    await waiters(1);
    const suspended = await graphql<any>(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agent.id } });
    expect(suspended.data?.suspendAgent.status).toBe('SUSPENDED');
    await held.release();
    const written = await write;
    expect(await phoneOf(user.id)).toBe(STORED_PHONE);
    expect(written.data?.updateProfile ?? null).toBeNull();
    expect(written.errors?.[0]?.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'AGENT_INACTIVE' });
  });

  it('does not deadlock with a consent the user gives meanwhile', async () => {
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'helpdesk_race', agentId: writer.id, scopes: ['contact:read', 'contact:write'] });
    const previous = await giveConsent(hub, user.accessToken, { purpose: 'support' });
    const token = (await exchange(hub, writer, (await signIn(hub, user)).accessToken)).body.access_token as string;
    // The give takes the user's consent lock, then waits here on the consent it supersedes.
    const held = await holding((tx) => sql`select 1 from consents where id = ${previous} for update`.execute(tx));
    const give = graphql<any>(hub, 'mutation($i: GiveConsentInput!) { giveConsent(input: $i) { id } }', { token: user.accessToken, variables: { i: { purpose: 'support' } } });
    await waiters(1);
    // The write locks the user's row, then waits for the consent lock; the give's insert then needs the row.
    const write = graphql<any>(hub, WRITE, { token });
    await waiters(2);
    await held.release();
    const [given, written] = await Promise.all([give, write]);
    expect({ give: given.errors ?? null, write: written.errors ?? null }).toEqual({ give: null, write: null });
  });

  it('writes when nothing changed meanwhile', async () => {
    const { user, token } = await setUp(writer);
    const written = await graphql<any>(hub, WRITE, { token });
    expect(written.data?.updateProfile).toEqual({ id: user.id, phone: '+4915199999999' });
  });
});
