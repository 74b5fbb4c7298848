import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { createTestDatabase } from '../helpers/database.js';
import { graphql, signUpUser, TEST_ENV } from '../helpers/hub.js';
import { basic, operatorCredentials } from '../helpers/oauth.js';

// A writer that writes only when told to (`flush`), turned backlogged by two waiting events.
let hub: Hub;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), audit: { flushIntervalMs: 600_000, maxBatch: 10_000, maxBuffered: 2 } });
});
afterAll(() => hub.close());

const profileReads = async (userId: string) => (await hub.services.audit.flush(), (await hub.database.db.selectFrom('audit_events').select('id').where('action', '=', 'profile.read').where('subject_user_id', '=', userId).execute()).length);

describe('while audit events wait to be written', () => {
  it('turns requests away with 503 rather than serve reads it might not audit, and serves them again once written', async () => {
    const user = await signUpUser(hub);
    await hub.services.audit.flush();
    const me = () => graphql(hub, '{ me { id email } }', { token: user.accessToken });

    let served = 0;
    while (!hub.services.audit.backlogged) {
      expect((await me()).data).toEqual({ me: { id: user.id, email: user.email } });
      served += 1;
    }
    const waiting = hub.services.audit.pending;

    const refused = await me();
    expect(refused.status).toBe(503);
    expect(refused.headers['retry-after']).toBe('1');
    expect(refused.errors).toEqual([{ message: 'Service unavailable; retry later', extensions: { code: 'INTERNAL_SERVER_ERROR' } }]);
    expect(refused.data).toBeUndefined();
    const token = await hub.http.inject({ method: 'POST', url: '/oauth/token', headers: basic(operatorCredentials(hub)), payload: { grant_type: 'client_credentials' } });
    expect(token.statusCode).toBe(503);
    expect(JSON.parse(token.body)).toEqual({ error: 'temporarily_unavailable', error_description: 'Service unavailable; retry later' });
    expect(token.headers['cache-control']).toBe('no-store');
    const badBearer = await graphql(hub, '{ me { id } }', { token: 'not-a-token' });
    expect(badBearer.status).toBe(503);
    expect(hub.services.audit.pending).toBe(waiting);

    const ready = await hub.http.inject({ method: 'GET', url: '/readyz' });
    expect(ready.statusCode).toBe(503);
    expect(JSON.parse(ready.body)).toEqual({ status: 'unavailable', reason: 'audit events waiting to be written' });
    expect((await hub.http.inject({ method: 'GET', url: '/healthz' })).statusCode).toBe(200);
    expect((await hub.http.inject({ method: 'GET', url: '/jwks.json' })).statusCode).toBe(200);

    expect(await profileReads(user.id)).toBe(served);
    expect(hub.services.audit.backlogged).toBe(false);
    expect((await hub.http.inject({ method: 'GET', url: '/readyz' })).statusCode).toBe(200);
    expect((await me()).data).toEqual({ me: { id: user.id, email: user.email } });
    expect(await profileReads(user.id)).toBe(served + 1);
  });
});
