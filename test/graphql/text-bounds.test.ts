import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import type { Hub } from '../../src/app.js';
import { BODY_LIMIT } from '../../src/http/server.js';
import { graphql, startTestHub } from '../helpers/hub.js';
import { operatorToken } from '../helpers/oauth.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

/**
 * The length of the longest string normalized (`String.prototype.normalize`, the canonical
 * reordering whose cost is quadratic in a run of marks) while `work` ran.
 */
async function longestNormalized(work: () => Promise<unknown>): Promise<number> {
  const normalize = vi.spyOn(String.prototype, 'normalize');
  try {
    await work();
    return Math.max(0, ...normalize.mock.contexts.map((text) => String(text).length));
  } finally {
    normalize.mockRestore();
  }
}

describe('a text input far longer than its bound', () => {
  it('is refused before it is normalized: a run of combining marks a body can hold does not stall the hub', async () => {
    // Canonical reordering of marks of alternating classes (ccc 220 and 230) is quadratic in the
    // run: 60,000 of them took 1.0 to 2.3 s of one core when NFC ran before the length check.
    const marks = 'a' + '\u0316\u0301'.repeat(30_000);
    const variables = { input: { email: 'marks@example.com', password: 'correct horse battery staple 42', givenName: marks } };
    expect(Buffer.byteLength(JSON.stringify(variables))).toBeLessThan(BODY_LIMIT);
    let response: Awaited<ReturnType<typeof graphql>> | undefined;
    const longest = await longestNormalized(async () => {
      response = await graphql(hub, 'mutation($input: SignUpInput!) { signUp(input: $input) { expiresIn } }', { variables });
    });
    expect(response?.errors?.[0]).toMatchObject({ message: 'input.givenName: must have at most 100 characters', extensions: { code: 'BAD_USER_INPUT', field: 'input.givenName' } });
    expect(longest).toBeLessThan(1_000);
  });
});

describe('a run of combining marks within a text input\'s bound', () => {
  it('is refused before it is normalized: a notice of 100,000 characters does not stall the hub', async () => {
    // 65,000 marks of alternating classes fit a notice's bound and the body: reordering them
    // for NFC took a second and more of the one thread. No text needs more than 30 marks on one
    // character (UAX #15's stream-safe format), so the run is refused before it is normalized.
    const noticeText = 'a' + '\u0316\u0301'.repeat(32_500);
    const input = { key: 'marks', title: 'Marks', description: 'A notice of marks.', lawfulBasis: 'CONSENT', dataCategories: ['contact'], noticeUrl: 'https://hub.example/notices/marks', noticeText };
    expect(Buffer.byteLength(JSON.stringify({ input }))).toBeLessThan(BODY_LIMIT);
    const token = await operatorToken(hub);
    let response: Awaited<ReturnType<typeof graphql>> | undefined;
    const longest = await longestNormalized(async () => {
      response = await graphql(hub, 'mutation($input: DefinePurposeInput!) { definePurpose(input: $input) { version } }', { variables: { input }, token });
    });
    expect(response?.errors?.[0]?.extensions).toEqual({ code: 'BAD_USER_INPUT', field: 'input.noticeText' });
    expect(longest).toBeLessThan(1_000);
  });
});
