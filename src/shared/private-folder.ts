import { mkdirSync, statSync } from 'node:fs';
import path from 'node:path';

/**
 * Makes `dir` and every missing folder above it, each `0700` (its owner's alone under any umask
 * that leaves the owner's bits), as the hub keeps its data; does nothing when `dir` is a folder
 * already. One folder at a time, not with mkdir's `recursive`: that reports a folder it could not
 * make on a read-only file system or a full disk as missing (ENOENT, nodejs/node#47098 and
 * #42808), where this throws the error of the folder that could not be made.
 */
export function makePrivateFolder(dir: string): void {
  try {
    makeFolder(dir);
  } catch (error) {
    const parent = path.dirname(dir);
    if ((error as NodeJS.ErrnoException).code !== 'ENOENT' || parent === dir) throw error;
    makePrivateFolder(parent);
    makeFolder(dir);
  }
}

/** Makes `dir` in a folder that exists; one made meanwhile (another process starting) is as good. */
function makeFolder(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST' || !statSync(dir).isDirectory()) throw error;
  }
}
