import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { openConfiguredDatabase } from '../../src/db/connect.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';

/** A read-only file system of its own, where the machine lets the test mount one (root on Linux); undefined otherwise. */
function mountReadOnly(): string | undefined {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'hub-read-only-'));
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'ro,size=1m', 'tmpfs', dir], { stdio: 'ignore' });
    return dir;
  } catch {
    rmSync(dir, { recursive: true, force: true });
    return undefined;
  }
}

const readOnly = mountReadOnly();
afterAll(() => {
  if (readOnly === undefined) return;
  execFileSync('umount', [readOnly]);
  rmSync(readOnly, { recursive: true, force: true });
});

// Node's recursive mkdir reports a folder it cannot make on a read-only file system as missing
// (ENOENT), which sent an operator looking for a folder that is there (nodejs/node#47098).
describe.skipIf(readOnly === undefined)('a HUB_DATA_DIR on a read-only file system', () => {
  it('is refused as read-only, naming the folder, for the database and for the key file', () => {
    const dataDir = path.join(readOnly!, 'hub', 'data');
    const refusal = `EROFS: read-only file system, mkdir '${path.join(readOnly!, 'hub')}'`;
    expect(() => openConfiguredDatabase({ databaseUrl: undefined, dataDir })).toThrow(refusal);
    expect(() => resolveKeyEncryptionKey({ keyEncryptionKey: undefined, dataDir })).toThrow(refusal);
  });
});
