import { chmodSync, mkdirSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import { openDatabase } from '../../src/db/connect.js';
import { describeEmbedded } from '../helpers/database.js';

// Earlier releases made the folder with the umask's modes (0755 under 022), and PGlite writes its
// files 0644 and its folders 0755 whatever the hub asks: an open database folder is every local
// user's copy of every customer's data. The embedded pass only: a server keeps no such folder.
describeEmbedded('an embedded database whose folder others may open', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'hub-data-dir-exposed-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let folders = 0;
  /** A data folder whose `pglite` folder has `mode`, as an earlier release left it. */
  const dataDirWith = (mode: number) => {
    const dataDir = path.join(root, String(++folders));
    const database = path.join(dataDir, 'pglite');
    mkdirSync(database, { recursive: true });
    chmodSync(database, mode);
    return { dataDir, database };
  };

  it.each(['755', '705', '711', '770', '777'])('is refused at mode %s, in one line naming the folder, its mode and the chmod that closes it', (mode) => {
    const { dataDir, database } = dataDirWith(Number.parseInt(mode, 8));
    expect(() => openDatabase({ dataDir })).toThrow(
      `the embedded database's folder ${database} (in HUB_DATA_DIR=${dataDir}) is open to users other than its owner (mode 0${mode}), as PostgreSQL refuses its data directory: make it 0700 (chmod 700 '${database}')`,
    );
    // Left as it was: the operator decides, and the refusal opened nothing.
    expect(statSync(database).mode & 0o777).toBe(Number.parseInt(mode, 8));
  });

  it('is taken at 0750 as PostgreSQL takes it (a group that reads its backups), on to the next check', () => {
    const { dataDir } = dataDirWith(0o750);
    expect(() => openDatabase({ dataDir, existing: true })).toThrow(`no embedded database in HUB_DATA_DIR=${dataDir}`);
  });
});
