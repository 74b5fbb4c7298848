import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { testServerUrl } from '../helpers/database.js';
import { graphql, signUpUser, startTestHub, TEST_PASSWORD } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_IN = 'mutation($input: SignInInput!) { signIn(input: $input) { accessToken refreshToken } }';

// The suspension must commit while the sign-in checks the password: that takes a second connection.
describe.skipIf(!testServerUrl())('a sign-in of a user suspended while their password is checked', () => {
  it('is refused as any sign-in of a suspended user is, and opens no session', async () => {
    const { db } = hub.services;
    const user = await signUpUser(hub);
    const sessionsBefore = await db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user.id).execute();
    // Suspended, uncommitted: the sign-in still reads the user as active, then waits on the row.
    const suspension = await db.startTransaction().execute();
    let response: Awaited<ReturnType<typeof graphql>> | undefined;
    try {
      await sql`update users set status = 'suspended' where id = ${user.id}`.execute(suspension);
      const signingIn = graphql(hub, SIGN_IN, { variables: { input: { email: user.email, password: TEST_PASSWORD } } });
      for (let waited = 0; waited < 5_000; waited += 50) {
        const { rows } = await sql<{ n: number }>`select count(*)::int as n from pg_stat_activity where wait_event_type = 'Lock' and datname = current_database()`.execute(db);
        if (rows[0]!.n > 0) break;
        await new Promise((resolve) => setTimeout(resolve, 50));
      }
      await suspension.commit().execute();
      response = await signingIn;
    } finally {
      if (!suspension.isCommitted) await suspension.rollback().execute();
    }
    expect(response?.errors?.[0]).toMatchObject({ message: 'Invalid email or password', extensions: { code: 'UNAUTHENTICATED' } });
    expect(response?.data).toBeNull();
    expect(await db.selectFrom('refresh_tokens').select('id').where('user_id', '=', user.id).execute()).toEqual(sessionsBefore);
  });
});
