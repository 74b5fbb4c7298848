import { readFileSync, readlinkSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import lockfile from 'proper-lockfile';

/**
 * How long a lock may go unrefreshed before another process takes it over, when its holder cannot
 * be checked (another host, or no owner file). The holder refreshes it from the event loop, which
 * a long PGlite statement blocks: a minute stays clear of any such statement.
 */
const STALE_MS = 60_000;
const REFRESH_MS = 5_000;

/**
 * Openers take turns through `<dir>.opening.lock` (a lock of its own, held for the milliseconds an
 * opening takes), so that the owner file is read, a dead holder's lock removed, the folder locked
 * and the owner file written as one step: two processes starting at once after the holder died
 * would otherwise both read the dead pid, and the later one remove the lock the earlier had just
 * taken. One that finds it held waits for it up to OPENING_WAIT_MS, longer than one left by an
 * opener that died takes to go stale (OPENING_STALE_MS), so a start right after such a death waits
 * a few seconds rather than fail.
 */
const OPENING_STALE_MS = 5_000;
const OPENING_WAIT_MS = OPENING_STALE_MS + 2_000;

/** Thrown when another process holds the embedded database's folder; `code` is stable. */
export class DataDirInUseError extends Error {
  override name = 'DataDirInUseError';
  readonly code = 'DATA_DIR_IN_USE';

  constructor(dataDir: string, owner: Owner | undefined) {
    const pid = owner && (owner.host === os.hostname() ? `pid ${owner.pid}` : `pid ${owner.pid} on ${owner.host}`);
    super(`the embedded database in ${dataDir} is in use by another hub process${pid ? ` (${pid})` : ''}; stop it, or use DATABASE_URL`);
  }
}

interface Owner {
  readonly pid: number;
  readonly host: string;
  /** The holder's pid namespace (`/proc/self/ns/pid`, Linux); absent where unknown, and in files of earlier versions. */
  readonly pidNamespace?: string;
}

/** This process's pid namespace: a pid names the same process only within one. Undefined off Linux. */
const PID_NAMESPACE = (() => {
  try {
    return readlinkSync('/proc/self/ns/pid');
  } catch {
    return undefined;
  }
})();

/** The locks this process holds. */
const heldHere = new Set<string>();

/**
 * Takes `dir` for this process alone until the returned function is called, because two PGlite
 * instances on one folder each write back their own copy of it and leave it corrupt. The lock is
 * `<dir>.lock` (proper-lockfile: an atomic mkdir whose mtime the holder keeps fresh); beside it,
 * `<dir>.owner` names the holder's pid, so a lock whose holder died on this host is taken over at
 * once and any other once it is stale. Released at exit as well, if the process ends without it.
 * @throws DataDirInUseError when another process holds `dir`; `dataDir` is the folder it names.
 */
export function lockDataDir(dir: string, dataDir: string): () => void {
  const ownerFile = `${dir}.owner`;
  const opened = takeTurn(`${dir}.opening`, () => new DataDirInUseError(dataDir, readOwner(ownerFile)));
  try {
    return lockHeld(dir, dataDir);
  } finally {
    opened();
  }
}

/** `lockDataDir`'s opening, run by one opener at a time. */
function lockHeld(dir: string, dataDir: string): () => void {
  const lockPath = `${dir}.lock`;
  const ownerFile = `${dir}.owner`;
  const owner = readOwner(ownerFile);
  if (owner && owner.host === os.hostname() && leftHere(owner, lockPath)) rmSync(lockPath, { recursive: true, force: true });
  let unlock: () => void;
  try {
    unlock = lockfile.lockSync(dir, {
      lockfilePath: lockPath,
      realpath: false,
      stale: STALE_MS,
      update: REFRESH_MS,
      // Thrown from the refresh timer, so it ends the process: the lock was deleted, or taken over
      // after this process stalled past STALE_MS, and two writers would corrupt the folder.
      onCompromised: (error) => {
        throw new Error(`lost the lock on the embedded database in ${dataDir}: ${error.message}`);
      },
    });
  } catch (error) {
    if ((error as { code?: unknown }).code === 'ELOCKED') throw new DataDirInUseError(dataDir, readOwner(ownerFile));
    throw error;
  }
  try {
    writeFileSync(ownerFile, JSON.stringify({ pid: process.pid, host: os.hostname(), ...(PID_NAMESPACE && { pidNamespace: PID_NAMESPACE }) } satisfies Owner));
  } catch (error) {
    unlock();
    throw error;
  }
  heldHere.add(lockPath);
  let held = true;
  return () => {
    if (!held) return;
    held = false;
    // Before the unlock: once unlocked, the file may already be the next holder's.
    rmSync(ownerFile, { force: true });
    heldHere.delete(lockPath);
    unlock();
  };
}

/**
 * Takes the lock on `name` (`<name>.lock`), waiting up to OPENING_WAIT_MS while another process
 * holds it; answers its release.
 * @throws what `refused` makes when it stays held.
 */
function takeTurn(name: string, refused: () => Error): () => void {
  const deadline = Date.now() + OPENING_WAIT_MS;
  for (;;) {
    try {
      return lockfile.lockSync(name, { realpath: false, stale: OPENING_STALE_MS, update: OPENING_STALE_MS / 2 });
    } catch (error) {
      if ((error as { code?: unknown }).code !== 'ELOCKED') throw error;
      if (Date.now() >= deadline) throw refused();
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
    }
  }
}

/** The holder the owner file names; undefined when it is missing or unreadable. Never throws. */
function readOwner(file: string): Owner | undefined {
  try {
    const { pid, host, pidNamespace } = JSON.parse(readFileSync(file, 'utf8')) as Partial<Owner>;
    return Number.isInteger(pid) && pid! > 0 && typeof host === 'string' ? { pid: pid!, host, ...(typeof pidNamespace === 'string' && { pidNamespace }) } : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Whether the holder of a lock on this host name left it. Its pid says so at once within this
 * process's pid namespace: no process has it, or it is this process's own and this process does
 * not hold the lock (an earlier process with the pid). A pid of another namespace names no process
 * here, nor the one it names there: containers on the host's network share its name, each with
 * pids of its own (and a container restarted after a crash runs the hub as pid 1 again), so the
 * holder is judged by its lock, which a live one refreshes (`unrefreshed`). An owner file that
 * names no namespace, as earlier versions wrote, is read as of this one, but for this process's
 * own pid.
 */
function leftHere(owner: Owner, lockPath: string): boolean {
  const pidUncheckable = owner.pidNamespace === undefined ? owner.pid === process.pid : owner.pidNamespace !== PID_NAMESPACE;
  if (pidUncheckable) return !heldHere.has(lockPath) && unrefreshed(lockPath);
  return owner.pid === process.pid ? !heldHere.has(lockPath) : !isRunning(owner.pid);
}

/** Whether a lock has gone unrefreshed for twice REFRESH_MS, which a live holder never lets it; true when it is gone. */
function unrefreshed(lockPath: string): boolean {
  try {
    return Date.now() - statSync(lockPath).mtimeMs > 2 * REFRESH_MS;
  } catch {
    return true;
  }
}

/** False only when no process has this pid; one of another user (EPERM) is running. */
function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === 'EPERM';
  }
}
