import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { describeEmbedded } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

/** A uid no file of the test's own is owned by: `nobody`'s, by convention. */
const OTHER_UID = 65534;

// Only root can hand a folder to another user, and only root could open it anyway: a hub of any
// other user fails on the files themselves. The embedded pass only: a server keeps no such folder.
const describeAsRoot = process.geteuid?.() === 0 ? describeEmbedded : describe.skip;

describeAsRoot('an embedded database whose folder belongs to another user', () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-data-dir-owner-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('is refused in one line naming its owner, and left without a file of this user', async () => {
    const dataDir = path.join(dir, 'data');
    const database = path.join(dataDir, 'pglite');
    mkdirSync(database, { recursive: true, mode: 0o700 });
    chownSync(dataDir, OTHER_UID, OTHER_UID);
    chownSync(database, OTHER_UID, OTHER_UID);
    const env = { PATH: process.env.PATH, HUB_DATA_DIR: dataDir, LOG_LEVEL: 'silent' };
    const why = `the embedded database in HUB_DATA_DIR=${dataDir} belongs to uid ${OTHER_UID}, not to uid 0, which runs this hub: run the hub as its owner`;
    const [up, status] = await Promise.all([runNode(env, 'bin/hub.js', 'migrate', 'up'), runNode(env, 'bin/hub.js', 'migrate', 'status')]);
    expect(up).toEqual({ status: 1, stdout: '', stderr: `hub: ${why}\n` });
    expect(status).toEqual({ status: 1, stdout: '', stderr: `hub: ${why}\n` });
    // Files of root's in the owner's database are files its own hub could no longer open.
    expect(readdirSync(database)).toEqual([]);
    expect(readdirSync(dataDir)).toEqual(['pglite']);
    expect(statSync(database).uid).toBe(OTHER_UID);
  }, 120_000);
});
