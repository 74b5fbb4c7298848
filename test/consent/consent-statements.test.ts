import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser } from '../helpers/hub.js';
import { giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';
import { StatementLog, startCountedHub } from '../helpers/statements.js';

const log = new StatementLog();
let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;

beforeAll(async () => {
  hub = await startCountedHub(log);
  const admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  const assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read'] });
  await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
  await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
});
afterAll(() => hub.close());

const CONSENTS = '{ me { consents { id purpose { key version dataCategories } } connectedAgents { purpose { key version } } } }';

describe('the purposes of a user’s consents', () => {
  it('come from the purpose registry’s cache: the token check, the user, their consents, nothing more', async () => {
    // The first read fills the registry's cache.
    expect((await graphql<any>(hub, CONSENTS, { token: alice.accessToken })).errors).toBeUndefined();
    const response = await log.during(() => graphql<any>(hub, CONSENTS, { token: alice.accessToken }));
    expect(response.errors).toBeUndefined();
    expect(response.data.me.consents.map((c: any) => c.purpose.key)).toEqual(['support', 'email_marketing']);
    expect(response.data.me.connectedAgents.map((c: any) => c.purpose.key)).toEqual(['support']);
    expect(log.matching('purposes')).toEqual([]);
    expect({ statements: log.statements.length, roundTrips: log.roundTrips }).toEqual({ statements: 4, roundTrips: 3 });
  });

  it('are the version each consent was given under, read from the database when the cache does not hold it', async () => {
    // A version another instance defined, whose notification has not arrived: this instance's cache holds the one before.
    const [before] = await hub.services.purposes.versions('support');
    const row = await hub.services.db.selectFrom('purposes').selectAll().where('key', '=', 'support').where('version', '=', Number(before!.version)).executeTakeFirstOrThrow();
    await hub.services.db.insertInto('purposes').values({ ...row, version: row.version + 1, data_categories: ['orders'] }).execute();
    expect((await hub.services.purposes.versions('support'))[0]).toBe(before);
    const bob = await signUpUser(hub);
    await giveConsent(hub, bob.accessToken, { purpose: 'support' });

    const response = await graphql<any>(hub, CONSENTS, { token: bob.accessToken });
    expect(response.errors).toBeUndefined();
    expect(response.data.me.consents[0].purpose).toEqual({ key: 'support', version: String(row.version + 1), dataCategories: ['orders'] });
  });
});
