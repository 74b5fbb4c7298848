import { hash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ANONYMOUS } from '../../src/authz/principal.js';
import { createPurposeRegistry, type PurposeRegistry } from '../../src/consent/purpose-registry.js';
import { insertPurposeVersion, lockPurpose } from '../../src/consent/purpose.queries.js';
import { systemClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { lockHolder } from '../helpers/locks.js';

// Versions of one purpose are numbered one after the other, each read from the newest stored: two
// definitions at once take turns, or both would number theirs from the same version and the
// second would fail on the key they share. PGlite has one connection, so the wait needs a server.

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

let database: TestDatabase;
let registry: PurposeRegistry;

describe.skipIf(testServerUrl() === undefined)('a purpose defined while another definition of it is being stored', () => {
  beforeAll(async () => {
    database = await createTestDatabase();
    registry = createPurposeRegistry({ db: database.db, clock: systemClock });
  });
  afterAll(() => database.close());
  const { holding, waiters } = lockHolder(() => database.db);

  it('waits for it, and is the version after it', async () => {
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
    expect((await registry.versions('partner_offers')).map((p) => [p.version, p.dataCategories])).toEqual([
      ['3', ['loyalty', 'contact']],
      ['2', ['loyalty', 'orders']],
      ['1', ['loyalty']],
    ]);
  });
});
