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

describe('a consent that supersedes another', () => {
  it('records both changes together: one statement each for their ledger events, audit events and webhooks, and no lapse of a consent without expiry', async () => {
    const bob = await signUpUser(hub);
    const first = await giveConsent(hub, bob.accessToken, { purpose: 'personalization' });
    const response = await log.during(() => graphql<any>(hub, 'mutation { giveConsent(input: { purpose: "personalization" }) { id status } }', { token: bob.accessToken }));
    expect(response.errors).toBeUndefined();
    expect(log.matching('insert into "consent_events"')).toHaveLength(1);
    expect(log.matching('insert into audit_events')).toHaveLength(1);
    expect(log.matching('insert into webhook_messages')).toHaveLength(1);
    expect(log.matching(`set "status" = $1 where`)).toEqual([]);
    expect(log.statements.length).toBe(17);

    const history = await hub.services.consents.findHistory(hub.services.db, [first, response.data.giveConsent.id]);
    expect(history.map((e) => [e.consentId, e.kind])).toEqual([
      [first, 'given'],
      [first, 'withdrawn'],
      [response.data.giveConsent.id, 'given'],
    ]);
    const trail = await hub.services.db.selectFrom('audit_events').select(['action', 'consent_id']).where('subject_user_id', '=', bob.id).where('action', 'like', 'consent.%').orderBy('chain_seq').execute();
    expect(trail.map((e) => [e.action, e.consent_id])).toEqual([
      ['consent.given', first],
      ['consent.withdrawn', first],
      ['consent.given', response.data.giveConsent.id],
    ]);
  });
});
