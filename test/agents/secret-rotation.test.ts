import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';
import { TEST_ENV, graphql, postForm, signUpUser } from '../helpers/hub.js';
import { basic, operatorToken, registerAgent } from '../helpers/oauth.js';

const clock = fixedClock(new Date());
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  await operatorToken(hub);
  alice = await signUpUser(hub);
});
afterAll(() => hub.close());

const rotate = async (id: string, gracePeriodSeconds: number) => {
  const response = await graphql<any>(hub, 'mutation($id: ID!, $g: Int) { rotateAgentSecret(id: $id, gracePeriodSeconds: $g) { clientSecret } }', {
    token: alice.accessToken,
    variables: { id, g: gracePeriodSeconds },
  });
  return response.data.rotateAgentSecret.clientSecret as string;
};
const authenticates = async (clientId: string, clientSecret: string) => (await postForm(hub, '/oauth/token', { grant_type: 'client_credentials' }, basic({ clientId, clientSecret }))).status === 200;
const storedSecrets = async (agentId: string) => (await hub.database.db.selectFrom('agent_secrets').select('secret_hash').where('agent_id', '=', agentId).execute()).length;

describe('rotating an agent’s secret again and again', () => {
  it('keeps the hashes of the two secrets that may still work and no other, so an owner’s rotations store nothing without end', async () => {
    const agent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    const secrets = [agent.clientSecret];
    for (let i = 0; i < 6; i++) {
      secrets.push(await rotate(agent.id, i % 2 === 0 ? 3_600 : 0));
      clock.advance(1);
    }
    expect(await storedSecrets(agent.id)).toBeLessThanOrEqual(2);
    expect(await authenticates(agent.id, secrets.at(-1)!)).toBe(true);
    // The last rotation gave no grace period: only the newest secret works.
    expect(await authenticates(agent.id, secrets.at(-2)!)).toBe(false);

    secrets.push(await rotate(agent.id, 3_600));
    expect(await storedSecrets(agent.id)).toBe(2);
    expect(await authenticates(agent.id, secrets.at(-1)!)).toBe(true);
    expect(await authenticates(agent.id, secrets.at(-2)!)).toBe(true);
    for (const old of secrets.slice(0, -2)) expect(await authenticates(agent.id, old)).toBe(false);
  });
});

describe('rotating one agent’s secret', () => {
  it('leaves every other agent’s secrets as they were, one still in its grace period included', async () => {
    const other = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    const otherNew = await rotate(other.id, 3_600);
    const agent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    await rotate(agent.id, 0);
    await rotate(agent.id, 0);
    expect(await storedSecrets(other.id)).toBe(2);
    expect(await authenticates(other.id, other.clientSecret)).toBe(true);
    expect(await authenticates(other.id, otherNew)).toBe(true);
  });
});

// Two rotations of one agent's secret take turns on the agent: each rotates out the secret the
// other put in, or two secrets would stay valid with no end. PGlite runs one transaction at a time.
describe.skipIf(testServerUrl() === undefined)('two rotations of one agent’s secret at once', () => {
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('leave one new secret working: the later one, which ended the other at once', async () => {
    const agent = await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'] });
    // Holds the agent and its secret: both rotations wait, one behind the other.
    const held = await holding(async (tx) => {
      await tx.selectFrom('agents').select('id').where('id', '=', agent.id).forUpdate().execute();
      await tx.selectFrom('agent_secrets').select('agent_id').where('agent_id', '=', agent.id).forUpdate().execute();
    });
    const first = rotate(agent.id, 0);
    await waiters(1);
    const second = rotate(agent.id, 0);
    await waiters(2);
    await held.release();

    const secrets = await Promise.all([first, second]);
    const working = await Promise.all(secrets.map((secret) => authenticates(agent.id, secret)));
    expect(working.filter(Boolean)).toHaveLength(1);
    expect(await authenticates(agent.id, agent.clientSecret)).toBe(false);
  });
});
