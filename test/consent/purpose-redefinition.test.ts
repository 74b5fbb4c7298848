import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { insertPurposeVersion } from '../../src/consent/purpose.queries.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql } from '../helpers/hub.js';
import { operatorToken } from '../helpers/oauth.js';

/**
 * A purpose an operator defined before definePurpose took its notice as plain text (trimmed, in
 * NFC) and its language as a canonical tag, stored as given: the same definition sent again (a
 * deploy script that defines its purposes on every run) makes no new version, and is not refused.
 */
describe('a purpose stored before the stricter definePurpose', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
    admin = await operatorToken(hub);
  });
  afterAll(() => hub.close());

  const define = (input: Record<string, unknown>) =>
    graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { version noticeSha256 } }', { token: admin, variables: { i: input } });

  it.each([
    ['a notice ending in a line break', { noticeText: 'We use your contact details.\n' }],
    ['a language tag in lower case', { language: 'en-gb' }],
    ['a notice with a tab', { noticeText: 'We use:\tyour contact details.' }],
  ])('keeps its version when defined again exactly as stored: %s', async (_what, stored) => {
    const key = `old_${Math.random().toString(36).slice(2, 10)}`;
    const input = {
      key,
      title: 'Old purpose',
      description: 'Defined before the stricter checks.',
      lawfulBasis: 'CONSENT',
      dataCategories: ['contact'],
      noticeUrl: `https://hub.example/notices/${key}`,
      noticeText: 'We use your contact details.',
      language: 'en',
      ...stored,
    };
    await insertPurposeVersion(
      hub.services.db,
      {
        key,
        version: 1,
        title: input.title,
        description: input.description,
        lawfulBasis: 'consent',
        dataCategories: input.dataCategories,
        noticeUrl: input.noticeUrl,
        noticeText: input.noticeText,
        noticeSha256: createHash('sha256').update(input.noticeText).digest('hex'),
        language: input.language,
        jurisdiction: 'EU',
      } as never,
      new Date(),
    );
    const again = await define(input);
    expect({ errors: again.errors ?? null, version: again.data?.definePurpose?.version }).toEqual({ errors: null, version: '1' });
  });
});
