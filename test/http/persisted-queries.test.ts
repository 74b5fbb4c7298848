import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, signIn, signUpUser, startTestHub } from '../helpers/hub.js';
import { exchange, giveConsent, operatorToken, registerAgent } from '../helpers/oauth.js';

let hub: Hub;
beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(() => hub.close());

async function post(body: unknown) {
  const response = await hub.http.inject({ method: 'POST', url: '/graphql', headers: { 'content-type': 'application/json' }, payload: JSON.stringify(body) });
  return { status: response.statusCode, body: JSON.parse(response.body) as unknown };
}

const QUERY = '{ __typename }';
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

describe('automatic persisted queries', () => {
  it('answer a known hash with its query', async () => {
    expect(await post({ query: QUERY, extensions: { persistedQuery: { version: 1, sha256Hash: sha256(QUERY) } } })).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
    expect(await post({ extensions: { persistedQuery: { version: 1, sha256Hash: sha256(QUERY) } } })).toEqual({ status: 200, body: { data: { __typename: 'Query' } } });
  });

  it.each([
    ['a version other than 1', { version: 2, sha256Hash: sha256(QUERY) }, 'Unsupported persisted query version'],
    ['a hash that is not the query’s', { version: 1, sha256Hash: sha256('{ me { id } }') }, 'provided sha does not match query'],
  ])('refuse %s as the client’s mistake, not an internal error', async (_, persistedQuery, message) => {
    expect(await post({ query: QUERY, extensions: { persistedQuery } })).toEqual({ status: 400, body: { errors: [{ message, extensions: { code: 'BAD_USER_INPUT' } }] } });
  });
});

describe('automatic persisted queries of one caller', () => {
  // What an operator's console sends through Apollo Client's persisted-query link: the hash, then
  // (told it is unknown) the document with it, here one that names the person looked up.
  const LOOKUP = '{ users(first: 1, filter: { email: "wanted.person@example.com" }) { edges { node { id } } } }';
  const hashOnly = { extensions: { persistedQuery: { version: 1, sha256Hash: sha256(LOOKUP) } } };

  async function postAs(token: string | undefined, body: unknown, remoteAddress = '127.0.0.1') {
    const response = await hub.http.inject({
      method: 'POST',
      url: '/graphql',
      remoteAddress,
      headers: { 'content-type': 'application/json', ...(token && { authorization: `Bearer ${token}` }) },
      payload: JSON.stringify(body),
    });
    return { status: response.statusCode, body: JSON.parse(response.body) as { data?: unknown; errors?: { message: string }[] } };
  }

  it('answer a hash only to the caller that sent its document, telling no one else it was sent', async () => {
    const operator = await clientToken(hub, ['users:admin', 'contact:read'], 'agt_01J0000000000000000000APQA');
    const other = await clientToken(hub, ['users:admin'], 'agt_01J0000000000000000000APQB');
    expect((await postAs(operator, hashOnly)).body.errors?.[0]?.message).toBe('PersistedQueryNotFound');
    expect(await postAs(operator, { query: LOOKUP, ...hashOnly })).toMatchObject({ status: 200, body: { data: { users: { edges: [] } } } });
    // Someone else asking for the hash is told what they would be told of a document never sent.
    for (const token of [undefined, other]) {
      expect((await postAs(token, hashOnly)).body, token ? 'another client' : 'anonymous').toEqual({ errors: [expect.objectContaining({ message: 'PersistedQueryNotFound' })] });
    }
    expect(await postAs(operator, hashOnly)).toMatchObject({ status: 200, body: { data: { users: { edges: [] } } } });
  });

  it('answer an anonymous hash only at the address that sent its document', async () => {
    // A sign-in written out, password and all, as a page without variables sends it.
    const signInDocument = 'mutation { signIn(input: { email: "ann@example.com", password: "Written-In-Secret-1" }) { accessToken } }';
    const persistedQuery = { version: 1, sha256Hash: sha256(signInDocument) };
    const sent = await postAs(undefined, { query: signInDocument, extensions: { persistedQuery } }, '192.0.2.40');
    expect(sent.body.errors?.[0]?.message).not.toBe('PersistedQueryNotFound');
    expect((await postAs(undefined, { extensions: { persistedQuery } }, '192.0.2.40')).body.errors?.[0]?.message).not.toBe('PersistedQueryNotFound');
    expect((await postAs(undefined, { extensions: { persistedQuery } }, '198.51.100.40')).body).toEqual({ errors: [expect.objectContaining({ message: 'PersistedQueryNotFound' })] });
  });

  it('answer a hash an agent sent for one user to that agent acting for that user alone', async () => {
    const agent = await registerAgent(hub, await operatorToken(hub), { name: 'Assistant', allowedScopes: ['contact:read'] });
    const [ann, bob] = [await signUpUser(hub), await signUpUser(hub)];
    const actingFor = async (user: Awaited<ReturnType<typeof signUpUser>>) => {
      await giveConsent(hub, user.accessToken, { agentId: agent.id, scopes: ['contact:read'] });
      return (await exchange(hub, agent, (await signIn(hub, user)).accessToken, { scope: 'contact:read' })).body.access_token as string;
    };
    const [forAnn, forBob] = [await actingFor(ann), await actingFor(bob)];
    const document = '{ users(first: 1, filter: { email: "wanted.person@example.com" }) { edges { node { id } } } }';
    const persistedQuery = { version: 1, sha256Hash: sha256(document) };
    expect((await postAs(forAnn, { query: document, extensions: { persistedQuery } })).body.errors?.[0]?.message).not.toBe('PersistedQueryNotFound');
    expect((await postAs(forAnn, { extensions: { persistedQuery } })).body.errors?.[0]?.message).not.toBe('PersistedQueryNotFound');
    expect((await postAs(forBob, { extensions: { persistedQuery } })).body).toEqual({ errors: [expect.objectContaining({ message: 'PersistedQueryNotFound' })] });
  });
});
