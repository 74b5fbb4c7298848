import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { clientToken, graphql } from '../helpers/hub.js';
import { adminToken, startWebhookHub, subscribe, SUBSCRIPTION_FIELDS } from './webhook-hub.js';

describe('webhook subscriptions', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    ({ hub } = await startWebhookHub());
    admin = await adminToken(hub);
  });
  afterAll(() => hub.close());

  const create = (input: Record<string, unknown>, token = admin) =>
    graphql<{ createWebhookSubscription: { secret: string; subscription: Record<string, unknown> } }>(
      hub,
      `mutation($input: CreateWebhookSubscriptionInput!) { createWebhookSubscription(input: $input) { secret subscription { ${SUBSCRIPTION_FIELDS} } } }`,
      { token, variables: { input } },
    );
  const byId = (id: string) => graphql<{ webhookSubscription: Record<string, unknown> | null }>(hub, `query($id: ID!) { webhookSubscription(id: $id) { ${SUBSCRIPTION_FIELDS} } }`, { token: admin, variables: { id } });
  const mutate = (name: string, id: string) => graphql<Record<string, Record<string, unknown>>>(hub, `mutation($id: ID!) { ${name}(id: $id) { id status disabledReason } }`, { token: admin, variables: { id } });

  it('creates a subscription with a whsec_ secret shown once, and lists it without the secret', async () => {
    const created = await create({ url: 'http://127.0.0.1:9/hooks#fragment', eventTypes: ['consent.given', 'consent.given', 'agent.registered'], description: 'CRM sync' });
    expect(created.errors).toBeUndefined();
    const { secret, subscription } = created.data!.createWebhookSubscription;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(subscription).toMatchObject({
      id: expect.stringMatching(/^whk_[0-9A-Z]{26}$/),
      url: 'http://127.0.0.1:9/hooks',
      description: 'CRM sync',
      eventTypes: ['consent.given', 'agent.registered'],
      status: 'ENABLED',
      disabledReason: null,
      previousSecretExpiresAt: null,
    });
    const listed = await graphql<{ webhookSubscriptions: { edges: { node: { id: string } }[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { node { id } } } }', { token: admin });
    expect(listed.data!.webhookSubscriptions.edges.map((e) => e.node.id)).toContain(subscription.id);
    expect(JSON.stringify(await byId(subscription.id as string))).not.toContain(secret.slice(6));
    const types = await graphql<{ webhookEventTypes: string[] }>(hub, '{ webhookEventTypes }', { token: admin });
    expect(types.data!.webhookEventTypes).toEqual(expect.arrayContaining(['consent.given', 'consent.withdrawn', 'agent.registered', 'agent.suspended', 'agent.decommissioned', 'token.revoked', 'user.erased']));
  });

  it('updates, disables, enables and deletes a subscription', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:9/a', ['consent.given']);
    const updated = await graphql<{ updateWebhookSubscription: Record<string, unknown> }>(
      hub,
      `mutation($id: ID!, $input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(id: $id, input: $input) { ${SUBSCRIPTION_FIELDS} } }`,
      { token: admin, variables: { id, input: { url: 'http://127.0.0.1:9/b', eventTypes: ['token.revoked'], description: 'moved' } } },
    );
    expect(updated.data!.updateWebhookSubscription).toMatchObject({ url: 'http://127.0.0.1:9/b', eventTypes: ['token.revoked'], description: 'moved' });
    expect((await mutate('disableWebhookSubscription', id)).data!.disableWebhookSubscription).toEqual({ id, status: 'DISABLED', disabledReason: 'OPERATOR' });
    expect((await mutate('enableWebhookSubscription', id)).data!.enableWebhookSubscription).toEqual({ id, status: 'ENABLED', disabledReason: null });
    const deleted = await graphql<{ deleteWebhookSubscription: string }>(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } });
    expect(deleted.data!.deleteWebhookSubscription).toBe(id);
    expect((await byId(id)).data!.webhookSubscription).toBeNull();
    const again = await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } });
    expect(again.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('audits every change without the secret', async () => {
    const { id, secret } = await subscribe(hub, admin, 'http://127.0.0.1:9/audited?key=kept-out', ['consent.given']);
    await mutate('disableWebhookSubscription', id);
    const events = await hub.services.db.selectFrom('audit_events').select(['action', 'detail']).where('action', 'like', 'webhook.%').execute();
    const mine = events.filter((e) => (e.detail as { subscriptionId?: string }).subscriptionId === id);
    expect(mine.map((e) => e.action)).toEqual(['webhook.created', 'webhook.updated']);
    expect(JSON.stringify(mine)).not.toContain(secret.slice(6));
    expect(JSON.stringify(mine)).not.toContain('kept-out');
  });

  it('requires webhooks:admin: an operator without it is refused, and so is a caller without a token', async () => {
    const other = await clientToken(hub, ['agents:admin', 'audit:read'], 'agt_01J0000000000000000000NOWH');
    const refused = await create({ url: 'http://127.0.0.1:9/x', eventTypes: ['consent.given'] }, other);
    expect(refused.data).toBeNull();
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const list = await graphql(hub, '{ webhookSubscriptions { edges { node { id } } } }', { token: other });
    expect(list.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const anonymous = await graphql(hub, '{ webhookSubscriptions { edges { node { id } } } }');
    expect(anonymous.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    for (const name of ['disableWebhookSubscription', 'enableWebhookSubscription', 'rotateWebhookSecret']) {
      const denied = await graphql(hub, `mutation { ${name}(id: "whk_01J00000000000000000000000") { __typename } }`, { token: other });
      expect(denied.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    const redeliver = await graphql(hub, 'mutation { redeliverWebhookMessage(subscriptionId: "whk_x", messageId: "msg_x") { messageId } }', { token: other });
    expect(redeliver.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('refuses bad input with BAD_USER_INPUT naming the field, and writes nothing', async () => {
    const before = (await graphql<{ webhookSubscriptions: { edges: unknown[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { cursor } } }', { token: admin })).data!.webhookSubscriptions.edges.length;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ url: 'ftp://127.0.0.1/x', eventTypes: ['consent.given'] }, 'input.url', /http or https/],
      [{ url: 'not a url', eventTypes: ['consent.given'] }, 'input.url', /absolute http/],
      [{ url: 'http://user:pw@127.0.0.1/x', eventTypes: ['consent.given'] }, 'input.url', /credentials/],
      [{ url: `http://127.0.0.1/${'a'.repeat(2_100)}`, eventTypes: ['consent.given'] }, 'input.url', /at most 2048/],
      [{ url: 'http://127.0.0.1/x', eventTypes: [] }, 'input.eventTypes', /at least one/],
      [{ url: 'http://127.0.0.1/x', eventTypes: ['user.signed_in'] }, 'input.eventTypes.0', /must each be one of/],
      [{ url: 'http://127.0.0.1/x', eventTypes: ['consent.given'], description: 'x'.repeat(501) }, 'input.description', /at most 500/],
      [{ url: 'http://127.0.0.1/x', eventTypes: ['consent.given'], description: 'bell\u0007' }, 'input.description', /control characters/],
    ];
    for (const [input, field, message] of cases) {
      const response = await create(input);
      expect(response.errors![0]!.extensions, JSON.stringify(input).slice(0, 80)).toMatchObject({ code: 'BAD_USER_INPUT', field });
      expect(response.errors![0]!.message).toMatch(message);
    }
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:9/grace', ['consent.given']);
    const grace = await graphql(hub, 'mutation($id: ID!) { rotateWebhookSecret(id: $id, gracePeriodSeconds: 999999999) { secret } }', { token: admin, variables: { id } });
    expect(grace.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'gracePeriodSeconds' });
    const after = (await graphql<{ webhookSubscriptions: { edges: unknown[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { cursor } } }', { token: admin })).data!.webhookSubscriptions.edges.length;
    expect(after).toBe(before + 1);
  });
});
