import { decodeTime } from 'ulidx';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { isId } from '../../src/shared/ids.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, signUpUser } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase() });
});
afterAll(() => hub.close());

/** The time a ULID's first ten characters encode; undefined when they encode none. */
function ulidTime(id: string): number | undefined {
  try {
    return decodeTime(id.slice(id.indexOf('_') + 1));
  } catch {
    return undefined;
  }
}

// `createdAt` is a profile field that the per-field decision may refuse (an operator with only
// users:admin, an agent with only orders:read), while the id is shown to whoever sees the user.
describe('a user’s id', () => {
  it('tells nothing of when the user signed up, unlike a ULID', async () => {
    for (let i = 0; i < 5; i++) {
      const before = Date.now();
      const { id } = await signUpUser(hub);
      const after = Date.now();
      expect(isId('usr', id)).toBe(true);
      const time = ulidTime(id);
      expect(time !== undefined && time >= before && time <= after, `${id} encodes its sign-up time`).toBe(false);
    }
  });
});
