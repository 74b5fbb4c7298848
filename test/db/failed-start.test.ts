import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { createHub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { copyTemplateInto, createTestDatabase, describeEmbedded } from '../helpers/database.js';
import { TEST_ENV } from '../helpers/hub.js';

// A start that fails once the database is open (here a key file others may read, refused as the
// services are built; a wrong key or a bootstrap client naming an agent fail later still) closes
// it again: in one process, as tests and embedders run hubs, it would otherwise hold a server's
// connections, or the embedded database and its folder's lock, until the process exits.
const root = mkdtempSync(path.join(os.tmpdir(), 'hub-failed-start-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const { HUB_KEY_ENCRYPTION_KEY: _, ...withoutKey } = TEST_ENV;

/** `dataDir`, made if missing, with a key file others may read, which the start refuses once the database is open. */
function withExposedKeyFile(dataDir: string): string {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 });
  const file = path.join(dataDir, 'key-encryption-key');
  writeFileSync(file, `${'3'.repeat(64)}\n`);
  chmodSync(file, 0o644);
  return `${file} may be read or written by users other than its owner (mode 0644)`;
}

describe('a start that fails after the database is open', () => {
  it('closes the database it was given: no statement runs on it, and no connection stays open', async () => {
    const dataDir = path.join(root, 'given');
    const refusal = withExposedKeyFile(dataDir);
    const database = await createTestDatabase();
    try {
      await expect(createHub(loadConfig({ ...withoutKey, HUB_DATA_DIR: dataDir }), { database })).rejects.toThrow(refusal);
      await expect(database.db.selectFrom('agents').select('id').execute()).rejects.toThrow();
      for (const pool of database.pools.values()) expect(pool.totalCount).toBe(0);
    } finally {
      // Closed once more, for a start that left it open; a server's copy is dropped either way.
      await database.close().catch(() => {});
    }
  });
});

describeEmbedded('a start on an embedded database folder that fails after opening it', () => {
  it('lets go of the folder: the same process opens it again at once, not refused as in use', async () => {
    const dataDir = path.join(root, 'embedded');
    await copyTemplateInto(dataDir);
    const refusal = withExposedKeyFile(dataDir);
    await expect(createHub(loadConfig({ ...withoutKey, HUB_DATA_DIR: dataDir }))).rejects.toThrow(refusal);
    const again = openDatabase({ dataDir });
    try {
      await again.ping();
    } finally {
      await again.close();
    }
  }, 60_000);
});
