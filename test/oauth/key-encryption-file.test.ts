import { mkdtempSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
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
});

describe('the key-encryption key of an embedded database in memory (memory://)', () => {
  it('lives only as long as the process, like the data it protects: a new one each time, kept in no file', () => {
    const key = resolveIn(MEMORY_DATA_DIR)();
    expect(key).toHaveLength(32);
    expect(resolveIn(MEMORY_DATA_DIR)()).not.toEqual(key);
  });
});
