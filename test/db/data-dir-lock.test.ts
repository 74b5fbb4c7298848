import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sql } from 'kysely';
import lockfile from 'proper-lockfile';
import { afterAll, expect, it } from 'vitest';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { DataDirInUseError, lockDataDir } from '../../src/db/data-dir-lock.js';
import { copyTemplateInto, describeEmbedded } from '../helpers/database.js';
import { runNode } from '../helpers/run-node.js';

/**
 * One process at a time on a PGlite data directory: a second PGlite on the same folder writes its
 * own copy back and corrupts it. The refusal is checked from another process, as `hub` commands
 * run beside a `hub serve`, and from this one.
 */
describeEmbedded('the lock on an embedded database folder', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'hub-lock-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let folders = 0;
  const emptyDataDir = () => path.join(root, String(++folders));
  /** A folder holding a migrated database, copied: what these tests time is the lock, not an initdb. */
  const freshDataDir = async () => {
    const dataDir = emptyDataDir();
    await copyTemplateInto(dataDir);
    return dataDir;
  };
  const run = (dataDir: string, ...args: string[]) => runNode({ PATH: process.env.PATH, HUB_DATA_DIR: dataDir, LOG_LEVEL: 'silent' }, ...args);
  const inUse = (dataDir: string, holder: string) =>
    `the embedded database in ${dataDir} is in use by another hub process (${holder}); stop it, or use DATABASE_URL`;
  const refusal = (dataDir: string, holder: string) =>
    expect.objectContaining({ name: 'DataDirInUseError', code: 'DATA_DIR_IN_USE', message: inUse(dataDir, holder) });

  it('refuses a second opener while the first has the folder open, and lets it in once the first closed', async () => {
    const dataDir = await freshDataDir();
    const first = openDatabase({ dataDir });
    try {
      await selectOne(first);
      const cli = await run(dataDir, 'bin/hub.js', 'migrate', 'status');
      expect(cli).toEqual({ status: 1, stdout: '', stderr: `hub: ${inUse(dataDir, `pid ${process.pid}`)}\n` });
      expect(() => openDatabase({ dataDir })).toThrow(refusal(dataDir, `pid ${process.pid}`));
    } finally {
      await first.close();
    }
    const again = openDatabase({ dataDir });
    await selectOne(again);
    await again.close();
  }, 120_000);

  it('leaves the next holder’s lock alone when an earlier holder releases a second time', () => {
    const dir = path.join(emptyDataDir(), 'pglite');
    mkdirSync(dir, { recursive: true });
    const release = lockDataDir(dir, dir);
    release();
    const next = lockDataDir(dir, dir);
    try {
      expect(() => release()).not.toThrow();
      expect(JSON.parse(readFileSync(`${dir}.owner`, 'utf8'))).toMatchObject({ pid: process.pid });
      expect(() => lockDataDir(dir, dir)).toThrow(DataDirInUseError);
    } finally {
      next();
    }
  });

  it('is taken over at once from a holder on this host that died without closing', async () => {
    const dataDir = await freshDataDir();
    const script = [
      `import { openDatabase } from './src/db/connect.ts';`,
      `const handle = openDatabase({ dataDir: process.env.HUB_DATA_DIR });`,
      `await handle.ping(60_000);`,
      `process.kill(process.pid, 'SIGKILL');`,
    ].join('\n');
    const crashed = await run(dataDir, '--import', 'tsx', '--input-type=module', '-e', script);
    expect(crashed.status).toBeNull();
    expect(existsSync(path.join(dataDir, 'pglite.lock'))).toBe(true);

    const next = openDatabase({ dataDir });
    await selectOne(next);
    await next.close();
  }, 120_000);

  it('is taken over at once from a dead holder that had this process’s pid, as a container restarted after a crash is pid 1 again', async () => {
    const dataDir = await freshDataDir();
    // What the holder left when it was killed: its lock and its pid. Refreshed a moment ago, it
    // may be a live holder's in another container on the host's network (its own pid 1).
    const lock = path.join(dataDir, 'pglite.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(path.join(dataDir, 'pglite.owner'), JSON.stringify({ pid: process.pid, host: os.hostname() }));
    expect(() => openDatabase({ dataDir })).toThrow(refusal(dataDir, `pid ${process.pid}`));
    // Unrefreshed for 11 s: no live holder's.
    const killed = new Date(Date.now() - 11_000);
    utimesSync(lock, killed, killed);
    const next = openDatabase({ dataDir });
    try {
      await selectOne(next);
      // Still this process's alone while it has it open.
      expect(() => openDatabase({ dataDir })).toThrow(refusal(dataDir, `pid ${process.pid}`));
    } finally {
      await next.close();
    }
  }, 120_000);

  it('takes over a holder of this host name in another pid namespace only once its lock went 10 s unrefreshed: its pid is not one this process can check', async () => {
    const dataDir = await freshDataDir();
    // A live hub in another container on the host's network: its pid names no process here, and
    // it refreshed its lock a moment ago.
    const lock = path.join(dataDir, 'pglite.lock');
    mkdirSync(lock, { recursive: true });
    const pidHereDead = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(path.join(dataDir, 'pglite.owner'), JSON.stringify({ pid: pidHereDead, host: os.hostname(), pidNamespace: 'pid:[1]' }));
    expect(() => openDatabase({ dataDir })).toThrow(refusal(dataDir, `pid ${pidHereDead}`));
    // Unrefreshed for 11 s: no live holder's.
    const killed = new Date(Date.now() - 11_000);
    utimesSync(lock, killed, killed);
    const next = openDatabase({ dataDir });
    await selectOne(next);
    await next.close();
  }, 120_000);

  it('lets one opener at a time take over from a dead holder, so two starting at once never both hold it', async () => {
    const dataDir = emptyDataDir();
    const dir = path.join(dataDir, 'pglite');
    mkdirSync(`${dir}.lock`, { recursive: true });
    const deadPid = spawnSync(process.execPath, ['-e', '0']).pid!;
    writeFileSync(`${dir}.owner`, JSON.stringify({ pid: deadPid, host: os.hostname() }));
    const open = () =>
      runNode(
        { PATH: process.env.PATH, DIR: dir },
        ...['--import', 'tsx', '--input-type=module', '-e'],
        `import { lockDataDir } from './src/db/data-dir-lock.ts';
        try { lockDataDir(process.env.DIR, process.env.DIR); console.log('held'); } catch (error) { console.log(error.code); }`,
      );
    // Another opener is between its read of the owner file and its takeover: this one waits its
    // turn rather than act on the same read, and is refused when the turn does not come.
    const opening = lockfile.lockSync(`${dir}.opening`, { realpath: false, update: 1_000 });
    try {
      expect((await open()).stdout).toBe('DATA_DIR_IN_USE\n');
      expect(JSON.parse(readFileSync(`${dir}.owner`, 'utf8')).pid).toBe(deadPid);
    } finally {
      opening();
    }
    expect((await open()).stdout).toBe('held\n');
  }, 120_000);

  it('waits out the turn of an opener that died mid-opening, and opens', async () => {
    const dataDir = await freshDataDir();
    mkdirSync(path.join(dataDir, 'pglite.opening.lock'), { recursive: true });
    const next = openDatabase({ dataDir });
    await selectOne(next);
    await next.close();
  }, 120_000);

  it('takes over a holder it cannot check (another host) only once the lock has gone unrefreshed for a minute', async () => {
    const dataDir = await freshDataDir();
    const lock = path.join(dataDir, 'pglite.lock');
    mkdirSync(lock, { recursive: true });
    writeFileSync(path.join(dataDir, 'pglite.owner'), JSON.stringify({ pid: 4242, host: 'elsewhere' }));
    expect(() => openDatabase({ dataDir })).toThrow(refusal(dataDir, 'pid 4242 on elsewhere'));

    const lastRefresh = new Date(Date.now() - 61_000);
    utimesSync(lock, lastRefresh, lastRefresh);
    const next = openDatabase({ dataDir });
    await selectOne(next);
    await next.close();
  }, 120_000);
});

async function selectOne(handle: DatabaseHandle): Promise<void> {
  const { rows } = await sql<{ one: number }>`select 1 as one`.execute(handle.db);
  expect(rows).toEqual([{ one: 1 }]);
}
