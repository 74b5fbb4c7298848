import { hash } from 'node:crypto';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createPurposeRegistry, type PurposeRegistry } from '../../src/consent/purpose-registry.js';
import { insertPurposeVersion, lockPurpose } from '../../src/consent/purpose.queries.js';
import { openDatabase } from '../../src/db/connect.js';
import type { Listen, ListenHandlers } from '../../src/db/notifications.js';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { systemClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';

// Audiences read a purpose's versions on every query, so the registry keeps them in memory: only
// while a change made anywhere is sure to clear them (NOTIFY hub_purposes, as the agent cache).

const caller = { principal: ANONYMOUS, requestId: null };
const definition = (key: string, dataCategories: string[]) => ({
  key,
  title: key,
  description: `The ${key} purpose.`,
  lawfulBasis: 'consent',
  dataCategories,
  noticeUrl: `https://hub.example/notices/${key}`,
  noticeText: `We use ${dataCategories.join(', ')}.`,
});
const versionsOf = async (registry: PurposeRegistry, key: string) => (await registry.versions(key)).map((p) => [p.version, p.dataCategories]);

let database: TestDatabase;
beforeAll(async () => {
  database = await createTestDatabase();
});
afterAll(() => database.close());

/** A registry on a LISTEN the test drives. */
function driven() {
  let handlers: ListenHandlers | undefined;
  const registry = createPurposeRegistry({ db: database.db, clock: systemClock, listen: (_channel, h) => ((handlers = h), async () => {}) });
  return { registry, handlers: () => handlers! };
}

/** Hides the purposes table, so that only an answer from memory can still name a version. */
async function withRegistryUnreadable(work: () => Promise<void>): Promise<void> {
  await sql`alter table purposes rename to purposes_hidden`.execute(database.db);
  try {
    await work();
  } finally {
    await sql`alter table purposes_hidden rename to purposes`.execute(database.db);
  }
}

describe('the purpose registry', () => {
  it('answers from memory while listening, and reads again after a notification or a lost LISTEN', async () => {
    const { registry, handlers } = driven();
    handlers().onState(true);
    const before = await versionsOf(registry, 'email_marketing');
    expect(before).toEqual([['1', ['profile', 'contact.email', 'preferences']]]);
    await withRegistryUnreadable(async () => {
      expect(await versionsOf(registry, 'email_marketing')).toEqual(before);
      handlers().onMessage('');
      await expect(registry.versions('email_marketing')).rejects.toThrow(/purposes/);
    });
    expect(await versionsOf(registry, 'email_marketing')).toEqual(before);
    handlers().onState(false);
    await withRegistryUnreadable(async () => {
      await expect(registry.versions('email_marketing')).rejects.toThrow(/purposes/);
    });
  });

  it('hands out frozen versions, so no request can change what the next one is served', async () => {
    const { registry, handlers } = driven();
    handlers().onState(true);
    const versions = await registry.versions('email_marketing');
    expect(Object.isFrozen(versions)).toBe(true);
    expect(Object.isFrozen(versions[0])).toBe(true);
    expect(() => (versions[0]!.dataCategories as string[]).push('payment')).toThrow(TypeError);
    expect((await registry.versions('email_marketing'))[0]!.dataCategories).toEqual(['profile', 'contact.email', 'preferences']);
  });

  it('caches nothing without a LISTEN, and never an unknown key', async () => {
    const bare = createPurposeRegistry({ db: database.db, clock: systemClock });
    expect(await versionsOf(bare, 'email_marketing')).toHaveLength(1);
    await withRegistryUnreadable(async () => {
      await expect(bare.versions('email_marketing')).rejects.toThrow(/purposes/);
    });
    const { registry, handlers } = driven();
    handlers().onState(true);
    expect(await registry.versions('arrives_later')).toEqual([]);
    await sql`insert into purposes (key, version, title, description, lawful_basis, data_categories, notice_url, notice_text, notice_sha256, language, jurisdiction, created_at)
      select 'arrives_later', 1, title, description, lawful_basis, data_categories, notice_url, notice_text, notice_sha256, language, jurisdiction, created_at
      from purposes where key = 'email_marketing'`.execute(database.db);
    expect(await versionsOf(registry, 'arrives_later')).toHaveLength(1);
  });

  it('shows a version defined through it at once, and one defined on another instance once its notification arrives', async () => {
    const { registry: local, handlers } = driven();
    handlers().onState(true);
    expect(await versionsOf(local, 'club_news')).toEqual([]);
    await local.define(definition('club_news', ['profile']), caller);
    expect(await versionsOf(local, 'club_news')).toEqual([['1', ['profile']]]);

    // Held in memory, a purpose given a new version through the same instance is shown at once,
    // before (and without) the notification of its own change.
    await createPurposeRegistry({ db: database.db, clock: systemClock }).define(definition('club_events', ['profile', 'contact.email']), caller);
    expect(await versionsOf(local, 'club_events')).toEqual([['1', ['profile', 'contact.email']]]);
    await local.define(definition('club_events', ['profile']), caller);
    expect(await versionsOf(local, 'club_events')).toEqual([
      ['2', ['profile']],
      ['1', ['profile', 'contact.email']],
    ]);

    // Two instances on one database: each its own connection and LISTEN where the server has them.
    const elsewhere = database.url ? openDatabase({ url: database.url }) : database;
    let listening = false;
    const listen: Listen = (channel, h) => database.listen(channel, { onMessage: h.onMessage, onState: (state) => ((listening = state), h.onState(state)) });
    const one = createPurposeRegistry({ db: database.db, clock: systemClock, listen });
    const two = createPurposeRegistry({ db: elsewhere.db, clock: systemClock });
    try {
      await expect.poll(() => listening, { timeout: 10_000 }).toBe(true);
      expect(await versionsOf(one, 'club_news')).toEqual([['1', ['profile']]]);
      await two.define(definition('club_news', ['profile', 'contact.email']), caller);
      // Without the notification, `one` would answer version 1 from memory for a minute.
      await expect.poll(() => versionsOf(one, 'club_news'), { timeout: 2_000, interval: 20 }).toEqual([
        ['2', ['profile', 'contact.email']],
        ['1', ['profile']],
      ]);
    } finally {
      if (elsewhere !== database) await elsewhere.close();
    }
  });
});

// Versions of one purpose are numbered one after the other, each read from the newest stored: two
// definitions at once take turns, or both would number theirs from the same version and the
// second would fail on the key they share. PGlite has one connection, so the wait needs a server.
describe.skipIf(testServerUrl() === undefined)('a purpose defined while another definition of it is being stored', () => {
  const { holding, waiters } = lockHolder(() => database.db);

  it('waits for it, and is the version after it', async () => {
    const registry = createPurposeRegistry({ db: database.db, clock: systemClock });
    await registry.define(definition('partner_offers', ['loyalty']), caller);
    // Another definition, its version 2 stored but not yet committed.
    const held = await holding(async (tx) => {
      await lockPurpose(tx, 'partner_offers');
      const text = 'We use loyalty and orders.';
      await insertPurposeVersion(
        tx,
        { ...definition('partner_offers', ['loyalty', 'orders']), lawfulBasis: 'consent', noticeText: text, noticeSha256: hash('sha256', text, 'hex'), language: 'en', jurisdiction: 'EU', version: 2 },
        new Date(),
      );
    });
    const defined = registry.define(definition('partner_offers', ['loyalty', 'contact']), caller);
    await waiters(1);
    await held.release();

    expect(await defined).toMatchObject({ version: '3', dataCategories: ['loyalty', 'contact'] });
    expect(await versionsOf(registry, 'partner_offers')).toEqual([
      ['3', ['loyalty', 'contact']],
      ['2', ['loyalty', 'orders']],
      ['1', ['loyalty']],
    ]);
  });
});

