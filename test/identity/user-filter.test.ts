import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { findAuditEvents } from '../../src/audit/audit.service.js';
import { clientToken, graphql, signUpUser, startTestHub } from '../helpers/hub.js';

let hub: Hub;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let bob: Awaited<ReturnType<typeof signUpUser>>;
beforeAll(async () => {
  hub = await startTestHub();
  alice = await signUpUser(hub, { givenName: 'Alice', country: 'FR' });
  bob = await signUpUser(hub, { givenName: 'Bob', country: 'DE' });
});
afterAll(() => hub.close());

const LIST = 'query($filter: UserFilter) { users(filter: $filter) { edges { node { id } } } }';
const list = (token: string, filter: Record<string, unknown> | null, requestId?: string) =>
  graphql<any>(hub, LIST, { token, variables: { filter }, ...(requestId && { headers: { 'x-request-id': requestId } }) });

describe('a filter of the user list', () => {
  it('on country is refused with users:admin alone, naming the key', async () => {
    const response = await list(await clientToken(hub, ['users:admin']), { country: 'FR' });
    expect(response.data).toBeNull();
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(response.errors?.[0]?.message).toBe("Not allowed to filter on filter.country: the token's scopes do not cover profile.country");
  });

  it('on email is refused without contact read scope, whatever else the token holds', async () => {
    const response = await list(await clientToken(hub, ['users:admin', 'profile:read']), { country: 'FR', email: alice.email });
    expect(response.data).toBeNull();
    expect(response.errors?.[0]?.extensions).toEqual({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    expect(response.errors?.[0]?.message).toMatch(/filter\.email: .* contact\.email$/);
  });

  it('works with the read scope of each field it selects on, a single-field scope too', async () => {
    const byCountry = await list(await clientToken(hub, ['users:admin', 'profile:read']), { country: 'fr' });
    expect(byCountry.errors).toBeUndefined();
    expect(byCountry.data.users.edges).toEqual([{ node: { id: alice.id } }]);
    const byEmail = await list(await clientToken(hub, ['users:admin', 'contact.email:read']), { email: bob.email });
    expect(byEmail.errors).toBeUndefined();
    expect(byEmail.data.users.edges).toEqual([{ node: { id: bob.id } }]);
  });

  it('set to the empty string selects the users who have it, none, as the audit and the scope check take it', async () => {
    const token = await clientToken(hub, ['users:admin', 'profile:read', 'contact:read']);
    for (const filter of [{ email: '' }, { country: '' }]) {
      const response = await list(token, filter);
      expect(response.errors).toBeUndefined();
      expect(response.data.users.edges).toEqual([]);
    }
  });

  it('needs no data scope when it sets no key', async () => {
    const response = await list(await clientToken(hub, ['users:admin']), { country: null });
    expect(response.errors).toBeUndefined();
    // In id order: a token that does not read createdAt is not shown who signed up first.
    expect(response.data.users.edges.map((e: any) => e.node.id)).toEqual([alice.id, bob.id].sort());
  });

  it('is audited: each user listed as a read of their id and the field, a refusal as the field denied with the key', async () => {
    await list(await clientToken(hub, ['users:admin', 'profile:read']), { country: 'DE' }, 'filter-allowed');
    await list(await clientToken(hub, ['users:admin']), { email: alice.email }, 'filter-refused');
    await list(await clientToken(hub, ['users:admin']), null, 'ids-only');
    await hub.services.audit.flush();
    const events = (await findAuditEvents(hub.services.db, { filter: { action: 'profile.read' }, first: 100 })).edges.map((e) => e.node);
    const summary = (requestId: string) =>
      events.filter((e) => e.requestId === requestId).map((e) => ({ subject: e.subjectUserId, read: e.fieldsRead, denied: e.fieldsDenied, decision: e.decision, reason: e.reason }));
    expect(summary('filter-allowed')).toEqual([{ subject: bob.id, read: ['country', 'createdAt', 'id'], denied: [], decision: 'ALLOW', reason: null }]);
    // A list of ids alone shows each listed user's id, which needs no scope but is read all the same.
    expect(summary('ids-only').map((e) => e.subject).sort()).toEqual([alice.id, bob.id].sort());
    expect(summary('ids-only').every((e) => e.read.join() === 'id' && e.decision === 'ALLOW')).toBe(true);
    expect(summary('filter-refused')).toEqual([{ subject: null, read: [], denied: ['email'], decision: 'DENY', reason: 'MISSING_SCOPE' }]);
    expect(events.find((e) => e.requestId === 'filter-refused')?.detail).toEqual({ refusedFilter: 'filter.email' });
  });

  it('is audited for the user past the page too: `hasNextPage` tells that they match it', async () => {
    const token = await clientToken(hub, ['users:admin', 'contact:read']);
    const probe = (email: string, requestId: string) =>
      graphql<any>(hub, 'query($email: String) { users(first: 0, filter: { email: $email }) { pageInfo { hasNextPage } } }', { token, variables: { email }, headers: { 'x-request-id': requestId } });
    expect((await probe(alice.email, 'probe-alice')).data.users.pageInfo.hasNextPage).toBe(true);
    expect((await probe('nobody@example.com', 'probe-nobody')).data.users.pageInfo.hasNextPage).toBe(false);
    await hub.services.audit.flush();
    const events = (await findAuditEvents(hub.services.db, { filter: { action: 'profile.read' }, first: 100 })).edges.map((e) => e.node);
    // Her email was matched, not her id shown.
    expect(events.filter((e) => e.requestId === 'probe-alice').map((e) => [e.subjectUserId, e.fieldsRead])).toEqual([[alice.id, ['email']]]);
    expect(events.filter((e) => e.requestId === 'probe-nobody')).toEqual([]);
  });

  it('finds a user by their email as they would type it at sign-in: a Unicode domain, any case, spaces around', async () => {
    const carol = await signUpUser(hub, { email: 'carol@bücher.de' });
    const token = await clientToken(hub, ['users:admin', 'contact:read']);
    for (const email of ['carol@bücher.de', ' Carol@BÜCHER.de ', 'carol@xn--bcher-kva.de']) {
      const response = await list(token, { email });
      expect(response.errors).toBeUndefined();
      expect(response.data.users.edges).toEqual([{ node: { id: carol.id } }]);
    }
  });
});
