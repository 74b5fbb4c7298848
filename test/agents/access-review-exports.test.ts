import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { EXPORT_SCOPES } from '../../src/authz/privacy-access.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { clientCredentialsToken, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// An operator client that answers data-subject requests reads every field of the person it
// exports (`data.exported` names them all). A review that counts only `profile.read` would show
// it as having read nothing and tell the operator that each of its data scopes goes unused.

const clock = fixedClock(new Date());
let hub: Hub;
let admin: string;
let exporter: RegisteredAgent;
let refused: RegisteredAgent;

const REVIEW = `{ accessReview {
  register(first: 100) { edges { node { agent { id } lastActiveAt fieldsRead usedScopes unusedScopes findings } } } } }`;

beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  exporter = await registerAgent(hub, admin, { name: 'Privacy desk', kind: 'SERVICE', allowedScopes: ['users:admin', ...EXPORT_SCOPES] });
  // Holds contact:read, but not every read scope an export needs: its refused export reads nothing.
  refused = await registerAgent(hub, admin, { name: 'Half desk', kind: 'SERVICE', allowedScopes: ['users:admin', 'contact:read'] });
  const user = await signUpUser(hub);
  const exported = await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${await clientCredentialsToken(hub, exporter)}` } });
  expect(exported.statusCode).toBe(200);
  const denied = await hub.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${await clientCredentialsToken(hub, refused)}` } });
  expect(denied.statusCode).toBe(403);
  await hub.services.audit.flush();
});
afterAll(() => hub.close());

async function entryOf(agent: RegisteredAgent) {
  const body = await graphql<any>(hub, REVIEW, { token: admin });
  expect(body.errors).toBeUndefined();
  return body.data.accessReview.register.edges.map((e: any) => e.node).find((n: any) => n.agent.id === agent.id);
}

describe('an access review of clients that export people’s data', () => {
  it('counts every field an export read as read, and the read scopes covering them as used', async () => {
    const entry = await entryOf(exporter);
    expect(entry.fieldsRead).toEqual(expect.arrayContaining(['email', 'birthdate', 'address', 'orders', 'paymentMethods', 'loyalty']));
    expect(entry).toMatchObject({ usedScopes: [...EXPORT_SCOPES].sort(), unusedScopes: [], findings: [] });
  });

  it('counts nothing as read for a refused export', async () => {
    expect(await entryOf(refused)).toMatchObject({ fieldsRead: [], usedScopes: [], unusedScopes: ['contact:read'], findings: ['OVER_PRIVILEGED'] });
  });
});
