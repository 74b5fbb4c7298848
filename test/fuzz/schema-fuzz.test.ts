import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { schema } from '../../src/graphql/schema.js';
import { clientToken, graphql, signUpUser, startTestHub, type GraphqlResponse } from '../helpers/hub.js';
import { operationArbitrary } from './query-arbitrary.js';

/** Replay a failure with FUZZ_SEED=<seed printed by fast-check>; FUZZ_RUNS sets the case count. */
const SEED = Number(process.env.FUZZ_SEED ?? 20261123);
const RUNS = Number(process.env.FUZZ_RUNS ?? 1_500);

let hub: Hub;
let bob: Awaited<ReturnType<typeof signUpUser>>;
const callers: { name: string; token?: string; mayRead: RegExp[] }[] = [];
/** What only Bob (or a caller with his contact and identity scopes) may ever see. */
let bobSecrets: string[];

beforeAll(async () => {
  hub = await startTestHub();
  const alice = await signUpUser(hub, { givenName: 'Alice' });
  bob = await signUpUser(hub, { givenName: 'Bobbington', familyName: 'Secretsson' });
  await hub.services.db
    .insertInto('orders')
    .values({ id: 'ord_BOBSPRIVATEORDER', user_id: bob.id, placed_at: new Date(), total_minor: 4_242, currency: 'EUR', status: 'paid', line_items: '[]' })
    .execute();
  bobSecrets = ['Bobbington', 'Secretsson', bob.email, 'ord_BOBSPRIVATEORDER'];
  callers.push(
    { name: 'anonymous', mayRead: [] },
    { name: 'alice', token: alice.accessToken, mayRead: [] },
    { name: 'bob', token: bob.accessToken, mayRead: [/./] },
    { name: 'operator without contact or identity scopes', token: await clientToken(hub, ['users:admin', 'profile:read', 'loyalty:read']), mayRead: [] },
    { name: 'auditor', token: await clientToken(hub, ['audit:read']), mayRead: [] },
  );
  idsPool.push(alice.id, bob.id, 'ord_BOBSPRIVATEORDER');
});
afterAll(() => hub.close());
const idsPool: string[] = [];

/** The value at `path` in `data`, or undefined when the path does not reach it. */
function at(data: unknown, path: readonly (string | number)[]): unknown {
  let value = data;
  for (const key of path) {
    if (value === null || typeof value !== 'object') return undefined;
    value = (value as Record<string | number, unknown>)[key];
  }
  return value;
}

function checkResponse(caller: (typeof callers)[number], response: GraphqlResponse, body: string): void {
  expect(response.status, body).toBeLessThan(500);
  expect(body).not.toMatch(/INTERNAL_SERVER_ERROR|stacktrace|Did you mean|node_modules|\/src\/|syntax error at or near|relation "/i);
  if (!caller.mayRead.some((pattern) => pattern.test('bob'))) {
    for (const secret of bobSecrets) expect(body, `${caller.name} saw ${secret}`).not.toContain(secret);
  }
  for (const error of response.errors ?? []) {
    expect(['UNAUTHENTICATED', 'FORBIDDEN', 'NOT_FOUND', 'BAD_USER_INPUT', 'RATE_LIMITED']).toContain(error.extensions?.code);
    if (error.extensions?.code === 'FORBIDDEN' && error.path && response.data) {
      expect(at(response.data, error.path) ?? null, `denied ${error.path.join('.')} resolved`).toBeNull();
    }
  }
}

describe('schema-driven fuzzing', () => {
  it(`answers ${RUNS} generated operations without a 5xx, a leak, a trace or a suggestion`, async () => {
    await fc.assert(
      fc.asyncProperty(fc.nat({ max: 4 }), operationArbitrary(schema, { ids: idsPool, mutations: true }), async (who, operation) => {
        const caller = callers[who]!;
        // Bob's own session must survive the run, so the fuzzer never signs him in or changes him.
        if (caller.name === 'bob' && operation.startsWith('mutation')) return;
        const response = await graphql(hub, operation, caller.token ? { token: caller.token } : {});
        checkResponse(caller, response, JSON.stringify(response));
      }),
      { seed: SEED, numRuns: RUNS, endOnFailure: true },
    );
  }, 600_000);
});
