import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

const SIGN_UP = 'mutation($input: SignUpInput!) { signUp(input: $input) { accessToken user { id email } } }';

describe('signing up within a request that has a caller', () => {
  it('leaves the caller as it was, so what it reads is refused or audited as its own', async () => {
    const caller = await signUpUser(hub);
    const email = `second-${Date.now()}@example.com`;
    const response = await graphql<any>(hub, SIGN_UP, { token: caller.accessToken, variables: { input: { email, password: 'correct horse battery staple 42' } } });
    const created = response.data.signUp.user;
    expect(created.email).toBeNull();
    expect(response.errors?.map((e) => [e.path?.join('.'), e.extensions?.code])).toEqual([['signUp.user.email', 'FORBIDDEN']]);
    await hub.services.audit.flush();
    const reads = await hub.services.db.selectFrom('audit_events').select(['actor_kind', 'actor_id', 'decision']).where('action', '=', 'profile.read').where('subject_user_id', '=', created.id).execute();
    expect(reads).toEqual([{ actor_kind: 'user', actor_id: caller.id, decision: 'deny' }]);
  });

  it('signs in an anonymous caller for the rest of the request', async () => {
    const email = `third-${Date.now()}@example.com`;
    const response = await graphql<any>(hub, SIGN_UP, { variables: { input: { email, password: 'correct horse battery staple 42' } } });
    expect(response.errors).toBeUndefined();
    expect(response.data.signUp.user.email).toBe(email);
  });
});
