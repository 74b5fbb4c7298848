import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { openDatabase } from '../../src/db/connect.js';
import { createTestDatabase, testServerUrl, type TestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signUpUser, type GraphqlResponse } from '../helpers/hub.js';
import { proxyDatabase, type TcpProxy } from '../helpers/tcp-proxy.js';

// A connection whose flow a NAT, a load balancer or a failover forgot takes what is written on it
// and never answers, nor resets: only TCP's retransmission timeout (some 15 minutes on Linux)
// would end it. PGlite runs inside the hub, with no connection to lose.
describe.skipIf(!testServerUrl())('pooled connections lost without a reset', () => {
  const STATEMENT_TIMEOUT_MS = 200;
  const ANSWER_MARGIN_MS = 300;
  let database: TestDatabase;
  let proxy: TcpProxy;
  let hub: Hub;
  beforeAll(async () => {
    database = await createTestDatabase();
    const proxied = await proxyDatabase(database.url!);
    proxy = proxied.proxy;
    hub = await createHub(loadConfig({ ...TEST_ENV, DATABASE_URL: proxied.url }), { database: openDatabase({ url: proxied.url, statementTimeoutMs: STATEMENT_TIMEOUT_MS, answerMarginMs: ANSWER_MARGIN_MS }) });
  });
  afterAll(async () => {
    await hub?.close();
    await proxy?.close();
    await database?.close();
  });

  /** The request's answer, or `undefined` if none came within `ms`. */
  const within = <T>(ms: number, answer: Promise<T>) => Promise.race([answer, new Promise<undefined>((resolve) => setTimeout(() => resolve(undefined), ms).unref())]);

  it('fail the request waiting on one soon after the statement timeout, as unavailable, and are not used again', async () => {
    const user = await signUpUser(hub, { givenName: 'Reachable' });
    const me = () => graphql(hub, '{ me { givenName } }', { token: user.accessToken });
    expect((await me()).data).toEqual({ me: { givenName: 'Reachable' } });

    proxy.forgetOpen();
    const startedAt = performance.now();
    const answer: GraphqlResponse | undefined = await within(10_000, me());
    expect(answer?.status).toBe(503);
    expect(performance.now() - startedAt).toBeLessThan(STATEMENT_TIMEOUT_MS + ANSWER_MARGIN_MS + 2_000);

    // Each connection the pools held is given up on once, then requests go through on new ones.
    const statuses: number[] = [];
    await expect
      .poll(
        async () => {
          const next = await within(10_000, me());
          statuses.push(next?.status ?? 0);
          return next?.data;
        },
        { timeout: 60_000, interval: 0 },
      )
      .toEqual({ me: { givenName: 'Reachable' } });
    expect(new Set(statuses.slice(0, -1))).not.toContain(0);
  }, 90_000);
});
