import { describe, expect, it } from 'vitest';
import { waitForDatabase } from '../../src/db/availability.js';
import { openDatabase, type DatabaseHandle } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl } from '../helpers/database.js';

/** A handle whose pings fail with `failures` in turn, then answer. */
function flakyHandle(failures: Error[]): DatabaseHandle & { pings: number } {
  const handle = {
    pings: 0,
    ping: async () => {
      const failure = failures[handle.pings++];
      if (failure) throw failure;
    },
  };
  return handle as unknown as DatabaseHandle & { pings: number };
}

const withCode = (message: string, code: string) => Object.assign(new Error(message), { code });

describe('waiting for the database at start', () => {
  it('waits while it is unavailable: refusing, starting up, not answering', async () => {
    const handle = flakyHandle([withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED'), withCode('the database system is starting up', '57P03'), withCode('no answer within 5000 ms', 'ETIMEDOUT')]);
    await waitForDatabase(handle, 30);
    expect(handle.pings).toBe(4);
  });

  it('waits through any connection failure PostgreSQL reports (SQLSTATE class 08), and one another error wraps', async () => {
    const handle = flakyHandle([
      withCode('server closed the connection unexpectedly', '08006'),
      withCode('could not receive data from client', '08P01'),
      new Error('opening the pool failed', { cause: withCode('connect ECONNREFUSED 127.0.0.1:5432', 'ECONNREFUSED') }),
    ]);
    await waitForDatabase(handle, 30);
    expect(handle.pings).toBe(4);
  });

  it('gives up at once on a refusal that waiting cannot change', async () => {
    const handle = flakyHandle([withCode('password authentication failed for user "hub"', '28P01')]);
    const started = Date.now();
    await expect(waitForDatabase(handle, 30)).rejects.toThrow(/^database refused the connection: password authentication failed for user "hub"$/);
    expect(handle.pings).toBe(1);
    expect(Date.now() - started).toBeLessThan(1_000);
  });

  it.skipIf(!testServerUrl())('gives up at once on a server database that does not exist', async () => {
    const existing = await createTestDatabase();
    const url = new URL(existing.url!);
    await existing.close();
    const missing = openDatabase({ url: url.toString() });
    try {
      const started = Date.now();
      await expect(waitForDatabase(missing, 30)).rejects.toThrow(/^database refused the connection: database "hub_test_\w+" does not exist$/);
      expect(Date.now() - started).toBeLessThan(5_000);
    } finally {
      await missing.close();
    }
  });
});

// PGlite's runtime rejects with objects that are not Errors: its `ExitStatus` (a name, a message
// and the exit code) when the database it boots exits, as on files it cannot read.
class ExitStatus {
  readonly name = 'ExitStatus';
  readonly message: string;
  constructor(readonly status: number) {
    this.message = `Program terminated with exit(${status})`;
  }
}

describe('a ping that rejects with what is not an Error', () => {
  it('names the failure, not "[object Object]"', async () => {
    const exited = flakyHandle([new ExitStatus(1) as unknown as Error]);
    await expect(waitForDatabase(exited, 30)).rejects.toThrow(/^database refused the connection: ExitStatus: Program terminated with exit\(1\)$/);
    const bare = flakyHandle([{ status: 1, reason: 'gone' } as unknown as Error]);
    await expect(waitForDatabase(bare, 30)).rejects.toThrow(/^database refused the connection: \{ status: 1, reason: 'gone' \}$/);
  });
});
