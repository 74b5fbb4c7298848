import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LOAD_SECONDS } from '../../bench/load.js';
import { LOAD_HUB_ENV, MEMORY_GOAL_MIB, memoryLine, prepareLoadMix, runLoadMix } from '../../bench/lib/load-mix.js';
import { markdownTable } from '../../bench/lib/measure.js';
import { startHubProcess, type HubProcess } from '../../bench/lib/setup.js';
import { seedUsers } from '../../src/identity/seed.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';

/** The long runs: set by `.ci/run` for the pass on the PostgreSQL server. */
const LONG = process.env.HUB_LONG_TESTS === '1';

// The benchmark's mixed load, as a test: the hub as its own process on the server, driven over
// loopback for LOAD_SECONDS (default 60) by every workload at once. PGlite serves one connection
// at a time inside the test's own process, so the figures would say nothing about the hub.
describe.skipIf(!LONG || !testServerUrl())(`the mixed load for ${LOAD_SECONDS} s`, () => {
  let database: TestDatabase;
  let hub: HubProcess;
  beforeAll(async () => {
    database = await createTestDatabase();
    await seedUsers(database.db, { users: 500, seed: 42 });
    // A configured operator client, so the fresh database's first start prints no secret.
    hub = await startHubProcess({ ...LOAD_HUB_ENV, DATABASE_URL: database.url!, HUB_BOOTSTRAP_CLIENT_ID: 'agt_load_test_operator', HUB_BOOTSTRAP_CLIENT_SECRET: 'load-test-operator-secret-not-for-production' });
  }, 120_000);
  afterAll(async () => {
    await hub?.stop();
    await database?.close();
  });

  it(`serves every request without an error, in under 400 MB resident`, async () => {
    const { rows, peakMb, errors } = await runLoadMix(hub, await prepareLoadMix(database.db, hub, LOAD_SECONDS));
    console.log(`${markdownTable(rows)}\n\n${memoryLine(peakMb)}`);
    for (const row of rows) expect(row.hub.rate, row.workload).toBeGreaterThan(0);
    expect(errors).toBe(0);
    expect(peakMb).toBeLessThan(MEMORY_GOAL_MIB);
  }, (LOAD_SECONDS + 120) * 1_000);
});
