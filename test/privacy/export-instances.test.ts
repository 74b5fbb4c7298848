import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { exportUserData } from '../../src/privacy/export.service.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, postForm, signUpUser } from '../helpers/hub.js';

// A data export streams page by page for as long as its reader reads. A person who signs out
// (revokes the session a thief holds) ends every request of that session on every instance at
// once; an export the session began on another instance must end too, not go on handing over
// the person's whole record.

let one: Hub;
/** The instance running the export: a second one on the server, the same one on PGlite. */
let two: Hub;
const ORDERS = 1_500;

beforeAll(async () => {
  const database = await createTestDatabase();
  one = await createHub(loadConfig(TEST_ENV), { database });
  two = database.url ? await createHub(loadConfig({ ...TEST_ENV, HUB_WEBHOOK_WORKER: 'false' }), { database: openDatabase({ url: database.url }) }) : one;
});
afterAll(async () => {
  if (two !== one) await two.close();
  await one.close();
});

describe('a data export running while its session is revoked elsewhere', () => {
  it('hands over no more pages once the session is revoked', async () => {
    const user = await signUpUser(one);
    await one.services.db
      .insertInto('orders')
      .values(Array.from({ length: ORDERS }, (_, i) => ({ id: `ord_${String(i).padStart(5, '0')}_${user.id}`, user_id: user.id, placed_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)), total_minor: 100 + i, currency: 'EUR', status: 'paid' as const, line_items: '[]' })))
      .execute();
    const principal = await two.services.tokens.authenticate(user.accessToken);
    // As the route passes it (`FastifyRequest.recheckToken`): the token's check on `two`, again.
    const recheckToken = async () => void (await two.services.tokens.authenticate(user.accessToken));
    const chunks = await exportUserData(two.services, { principal, requestId: null }, user.id, recheckToken);
    let before = '';
    let after = '';
    let revoked = false;
    try {
      for await (const chunk of chunks) {
        if (revoked) after += chunk;
        else before += chunk;
        if (!revoked && before.includes('"orders"')) {
          // The person signs out: the session's refresh token revoked, through the other instance.
          expect((await postForm(one, '/oauth/revoke', { token: user.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
          expect((await graphql(two, '{ me { id } }', { token: user.accessToken })).status).toBe(401);
          revoked = true;
        }
      }
    } catch {
      // Cut short.
    }
    expect(revoked).toBe(true);
    const ordersAfter = after.match(/"ord_\d{5}_/g)?.length ?? 0;
    // At most a page read ahead; never the rest of the record.
    expect(ordersAfter).toBeLessThanOrEqual(500);
  });

  it('over HTTP, checks the request’s token again before its pages: a session signed out once the request was let in hands over no page', async () => {
    const user = await signUpUser(one);
    await one.services.db
      .insertInto('orders')
      .values(Array.from({ length: 3 }, (_, i) => ({ id: `ord_${String(i).padStart(5, '0')}_${user.id}`, user_id: user.id, placed_at: new Date(Date.UTC(2030, 0, 1, 0, 0, i)), total_minor: 100 + i, currency: 'EUR', status: 'paid' as const, line_items: '[]' })))
      .execute();
    // The person signs out on the other instance as soon as the request's own check has passed.
    const { tokens } = two.services;
    const original = tokens.authenticateInSteps.bind(tokens);
    tokens.authenticateInSteps = async (token) => {
      const step = await original(token);
      let checks = 0;
      return {
        ...step,
        check: async () => {
          const caller = await step.check();
          if (++checks === 1) expect((await postForm(one, '/oauth/revoke', { token: user.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
          return caller;
        },
      };
    };
    try {
      // Cut short before its first list: the response ends without the rest of the document.
      const answer = two.http.inject({ method: 'GET', url: `/users/${user.id}/export`, headers: { authorization: `Bearer ${user.accessToken}` } });
      await expect(answer).rejects.toThrow(/destroyed before completion/);
    } finally {
      tokens.authenticateInSteps = original;
    }
  });
});
