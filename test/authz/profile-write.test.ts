import { execute, parse } from 'graphql';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { AccessRecorder } from '../../src/audit/access-recorder.js';
import { principalFromToken, type TokenClaims } from '../../src/authz/principal.js';
import { loadConfig } from '../../src/config.js';
import { schema } from '../../src/graphql/schema.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { claimsOf, exchange, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock('2031-03-01T09:00:00Z');
const STORED_PHONE = '+4915112345678';
let hub: Hub;
let admin: string;

type Response = { data?: any; errors?: { path?: readonly (string | number)[]; extensions?: Record<string, unknown> }[] };
const codeOf = (response: Response) => response.errors?.map((e) => `${e.extensions?.code}/${e.extensions?.reason}`);

async function delegatedToken(agent: RegisteredAgent, subjectToken: string, extra: Record<string, string> = {}): Promise<string> {
  const response = await exchange(hub, agent, subjectToken, extra);
  if (response.status !== 200) throw new Error(`exchange failed: ${JSON.stringify(response.body)}`);
  return response.body.access_token;
}

/** Runs the real schema in process with the token's caller, as a request does once the token check has passed. */
async function executeAs(token: string, query: string): Promise<Response> {
  const principal = principalFromToken(claimsOf(token) as TokenClaims)!;
  const result = await execute({ schema, document: parse(query), contextValue: { requestId: 'test', address: '127.0.0.1', principal, services: hub.services, access: new AccessRecorder() } });
  return { data: result.data, errors: result.errors?.map((e) => ({ path: e.path, extensions: e.extensions })) };
}

function definePurpose(key: string, dataCategories: string[]) {
  return graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { key dataCategories } }', {
    token: admin,
    variables: { i: { key, title: key, description: 'Answering tickets.', lawfulBasis: 'CONSENT', dataCategories, noticeUrl: `https://hub.example/notices/${key}`, noticeText: `We use ${dataCategories.join(', ')}.` } },
  });
}

/** A fresh user with a known phone, so each test can tell whether a write went through. */
async function userWithPhone() {
  const user = await signUpUser(hub);
  await hub.services.db.updateTable('users').set({ phone: STORED_PHONE }).where('id', '=', user.id).execute();
  return user;
}

async function storedProfile(userId: string) {
  return hub.services.db.selectFrom('users').select(['phone', 'updated_at']).where('id', '=', userId).executeTakeFirstOrThrow();
}

async function profileUpdates(userId: string): Promise<number> {
  await hub.services.audit.flush();
  const rows = await hub.services.db.selectFrom('audit_events').select('id').where('subject_user_id', '=', userId).where('action', '=', 'profile.updated').where('decision', '=', 'allow').execute();
  return rows.length;
}

/** The refused changes in the user's trail: who, which fields, why. */
async function refusedUpdates(userId: string) {
  await hub.services.audit.flush();
  return hub.services.db
    .selectFrom('audit_events')
    .select(['actor_kind', 'actor_id', 'fields_denied', 'reason'])
    .where('subject_user_id', '=', userId)
    .where('action', '=', 'profile.updated')
    .where('decision', '=', 'deny')
    .execute();
}

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
});
afterAll(() => hub.close());

describe('updateProfile by an agent acting for a user', () => {
  let writer: RegisteredAgent;
  beforeAll(async () => {
    expect((await definePurpose('helpdesk2', ['contact', 'orders'])).data.definePurpose).toEqual({ key: 'helpdesk2', dataCategories: ['contact', 'orders'] });
    writer = await registerAgent(hub, admin, { name: 'Helpdesk writer', allowedScopes: ['contact:read', 'contact:write', 'orders:read'] });
  });

  it('writes a field its token, the live consent and the purpose all cover', async () => {
    const user = await userWithPhone();
    await giveConsent(hub, user.accessToken, { purpose: 'helpdesk2', agentId: writer.id, scopes: ['contact:read', 'contact:write', 'orders:read'] });
    const token = await delegatedToken(writer, user.accessToken);
    const response = await graphql<any>(hub, 'mutation { updateProfile(input: { phone: "+4915100000001" }) { id phone } }', { token });
    expect(response.errors).toBeUndefined();
    expect(response.data.updateProfile).toEqual({ id: user.id, phone: '+4915100000001' });
  });

  it('refuses a write the purpose no longer covers with PURPOSE_NOT_COVERED, as it refuses the read, and stores nothing', async () => {
    const user = await userWithPhone();
    await giveConsent(hub, user.accessToken, { purpose: 'helpdesk2', agentId: writer.id, scopes: ['contact:read', 'contact:write', 'orders:read'] });
    const token = await delegatedToken(writer, user.accessToken);
    try {
      expect((await definePurpose('helpdesk2', ['orders'])).data.definePurpose.dataCategories).toEqual(['orders']);

      const read = await graphql<any>(hub, '{ me { phone } }', { token });
      expect(codeOf(read)).toEqual(['FORBIDDEN/PURPOSE_NOT_COVERED']);
      const write = await graphql<any>(hub, 'mutation { updateProfile(input: { phone: "+4915199999999" }) { id phone } }', { token });
      expect(write.data).toBeNull();
      expect(codeOf(write)).toEqual(['FORBIDDEN/PURPOSE_NOT_COVERED']);
      expect((await storedProfile(user.id)).phone).toBe(STORED_PHONE);
      expect(await profileUpdates(user.id)).toBe(0);
      expect(await refusedUpdates(user.id)).toEqual([{ actor_kind: 'delegated', actor_id: writer.id, fields_denied: ['phone'], reason: 'PURPOSE_NOT_COVERED' }]);
    } finally {
      await definePurpose('helpdesk2', ['contact', 'orders']);
    }
  });

  it('refuses a write on the very next request once the user withdraws: 401 over HTTP, CONSENT_WITHDRAWN from the decision', async () => {
    const user = await userWithPhone();
    const consentId = await giveConsent(hub, user.accessToken, { purpose: 'helpdesk2', agentId: writer.id, scopes: ['contact:read', 'contact:write'] });
    const token = await delegatedToken(writer, (await signIn(hub, user)).accessToken);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: user.accessToken, variables: { id: consentId } });
    expect(withdrawn.data.withdrawConsent.status).toBe('WITHDRAWN');

    expect((await graphql(hub, 'mutation { updateProfile(input: { phone: "+4915199999999" }) { id } }', { token })).status).toBe(401);
    const write = await executeAs(token, 'mutation { updateProfile(input: { phone: "+4915199999999" }) { id } }');
    expect(write.data).toBeNull();
    expect(codeOf(write)).toEqual(['FORBIDDEN/CONSENT_WITHDRAWN']);
    expect((await storedProfile(user.id)).phone).toBe(STORED_PHONE);
    expect(await profileUpdates(user.id)).toBe(0);
  });

  it('refuses a write once an agent of the chain is suspended, with AGENT_INACTIVE from the decision', async () => {
    const agent = await registerAgent(hub, admin, { allowedScopes: ['contact:read', 'contact:write'] });
    const user = await userWithPhone();
    await giveConsent(hub, user.accessToken, { purpose: 'helpdesk2', agentId: agent.id, scopes: ['contact:write'] });
    const token = await delegatedToken(agent, user.accessToken);
    await graphql(hub, 'mutation($id: ID!) { suspendAgent(id: $id) { status } }', { token: admin, variables: { id: agent.id } });
    const write = await executeAs(token, 'mutation { updateProfile(input: { phone: "+4915199999999" }) { id } }');
    expect(codeOf(write)).toEqual(['FORBIDDEN/AGENT_INACTIVE']);
    expect((await storedProfile(user.id)).phone).toBe(STORED_PHONE);
  });
});

describe('an updateProfile that names no field', () => {
  it('is refused for an agent without any write scope, with MISSING_SCOPE, and changes and audits nothing', async () => {
    const reader = await registerAgent(hub, admin, { name: 'Order reader', allowedScopes: ['orders:read'] });
    const user = await userWithPhone();
    await giveConsent(hub, user.accessToken, { purpose: 'support', agentId: reader.id, scopes: ['orders:read'] });
    const token = await delegatedToken(reader, user.accessToken);
    const before = await storedProfile(user.id);
    clock.set('2031-03-01T09:01:00Z'); // within the token's lifetime, late enough that a write would move updated_at
    try {
      const response = await graphql<any>(hub, 'mutation { updateProfile(input: {}) { id } }', { token });
      expect(response.data).toBeNull();
      expect(codeOf(response)).toEqual(['FORBIDDEN/MISSING_SCOPE']);
      expect(await storedProfile(user.id)).toEqual(before);
      expect(await profileUpdates(user.id)).toBe(0);
    } finally {
      clock.set('2031-03-01T09:00:00Z');
    }
  });

  it('is refused for the user themself too: there is nothing to change, so nothing is bumped or audited', async () => {
    const user = await userWithPhone();
    const before = await storedProfile(user.id);
    const response = await graphql<any>(hub, 'mutation { updateProfile(input: {}) { id } }', { token: user.accessToken });
    expect(response.data).toBeNull();
    expect(codeOf(response)).toEqual(['FORBIDDEN/MISSING_SCOPE']);
    expect(await storedProfile(user.id)).toEqual(before);
    expect(await profileUpdates(user.id)).toBe(0);
  });

  it('is refused for an operator client, as any profile write is, with NOT_SUBJECT', async () => {
    const response = await graphql<any>(hub, 'mutation { updateProfile(input: {}) { id } }', { token: admin });
    expect(codeOf(response)).toEqual(['FORBIDDEN/NOT_SUBJECT']);
  });
});
