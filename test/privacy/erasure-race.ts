import { afterAll, beforeAll, describe } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';
import { TEST_ENV, graphql } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { operatorToken } from '../helpers/oauth.js';
import { ERASE } from './privacy-fixtures.js';

/** What the tests of an erasure race share: `holding` and `waiters` force the interleaving. */
export interface ErasureRace extends ReturnType<typeof lockHolder> {
  /** A hub on a database of its own, with its clock fixed: started before the tests, closed after. */
  readonly hub: Hub;
  /** An operator's token. */
  readonly admin: string;
  /** Erases the person as an operator. */
  erase(userId: string): ReturnType<typeof graphql<any>>;
}

/**
 * Declares the tests of an erasure racing another change, on a real server only: PGlite has one
 * connection, so nothing there runs concurrently. Each test forces one interleaving with a
 * transaction holding a lock the first contender needs midway (test/helpers/locks.ts).
 */
export function describeErasureRace(title: string, tests: (race: ErasureRace) => void): void {
  describe.skipIf(testServerUrl() === undefined)(title, () => {
    let hub: Hub;
    let admin: string;
    beforeAll(async () => {
      hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock: fixedClock(new Date()) });
      admin = await operatorToken(hub);
    });
    afterAll(() => hub.close());
    tests({
      get hub() {
        return hub;
      },
      get admin() {
        return admin;
      },
      ...lockHolder(() => hub.services.db),
      erase: (userId) => graphql<any>(hub, ERASE, { token: admin, variables: { id: userId } }),
    });
  });
}
