import { chmodSync, chownSync, mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { MEMORY_DATA_DIR } from '../../src/config.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'hub-kek-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let folders = 0;
const folder = () => path.join(root, String(folders++));
const resolveIn = (dataDir: string) => () => resolveKeyEncryptionKey({ keyEncryptionKey: undefined, dataDir });

describe('the key-encryption key generated into the data folder', () => {
  it('is made once, readable by its owner alone, and read back the same, with nothing else left in the folder', () => {
    const dir = folder();
    const key = resolveIn(dir)();
    expect(key).toHaveLength(32);
    expect(statSync(path.join(dir, 'key-encryption-key')).mode & 0o777).toBe(0o600);
    expect(resolveIn(dir)()).toEqual(key);
    expect(readdirSync(dir)).toEqual(['key-encryption-key']);
  });

  it.each([
    ['empty, as a start cut short used to leave it', '', 'must be 32 bytes'],
    ['not a key', 'abc\n', 'must be 32 bytes'],
    ['all zeros', `${'0'.repeat(64)}\n`, 'must not be all zeros'],
  ])('is refused, naming the file, when it is %s', (_, content, reason) => {
    const dir = folder();
    resolveIn(dir)();
    const file = path.join(dir, 'key-encryption-key');
    writeFileSync(file, content);
    expect(resolveIn(dir)).toThrow(`${file} ${reason}`);
  });

  // As PostgreSQL refuses a private key file that group or others may read, and ssh does: the key
  // opens every signing key and webhook secret of the database, and a copy or restore made with
  // the umask alone (0644) handed it to every user of the machine.
  it.skipIf(process.geteuid === undefined).each(['644', '640', '604', '660'])('is refused, naming the file, when others may reach it (%s)', (mode) => {
    const dir = folder();
    const key = resolveIn(dir)();
    const file = path.join(dir, 'key-encryption-key');
    chmodSync(file, Number.parseInt(mode, 8));
    expect(resolveIn(dir)).toThrow(`${file} may be read or written by users other than its owner (mode 0${mode}): make it 0600 (chmod 600)`);
    chmodSync(file, 0o600);
    expect(resolveIn(dir)()).toEqual(key);
  });

  // Root can read another user's file, and would use a key that user could replace.
  it.skipIf(process.geteuid?.() !== 0)('is refused, naming the file, when it belongs to another user than this one or root', () => {
    const dir = folder();
    resolveIn(dir)();
    const file = path.join(dir, 'key-encryption-key');
    chownSync(file, 65534, 65534);
    expect(resolveIn(dir)).toThrow(`${file} belongs to uid 65534: it must be this process's (uid 0) or root's`);
  });
});

describe('the key-encryption key of an embedded database in memory (memory://)', () => {
  it('lives only as long as the process, like the data it protects: a new one each time, kept in no file', () => {
    const key = resolveIn(MEMORY_DATA_DIR)();
    expect(key).toHaveLength(32);
    expect(resolveIn(MEMORY_DATA_DIR)()).not.toEqual(key);
  });
});
