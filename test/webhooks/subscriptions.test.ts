import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Hub } from '../../src/app.js';
import { HUB_CHAIN_KEY } from '../../src/audit/audit.actions.js';
import { encodeCursor } from '../../src/shared/pagination.js';
import { testServerUrl } from '../helpers/database.js';
import { TEST_PASSWORD, clientToken, graphql, postForm, signUpUser } from '../helpers/hub.js';
import { lockHolder } from '../helpers/locks.js';
import { giveConsent, registerAgent } from '../helpers/oauth.js';
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
    const created = await create({ url: 'http://127.0.0.1:8/hooks#fragment', eventTypes: ['consent.given', 'consent.given', 'agent.registered'], description: 'CRM sync' });
    expect(created.errors).toBeUndefined();
    const { secret, subscription } = created.data!.createWebhookSubscription;
    expect(secret).toMatch(/^whsec_[A-Za-z0-9+/]{43}=$/);
    expect(subscription).toMatchObject({
      id: expect.stringMatching(/^whk_[0-9A-Z]{26}$/),
      url: 'http://127.0.0.1:8/hooks',
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
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/a', ['consent.given']);
    const updated = await graphql<{ updateWebhookSubscription: Record<string, unknown> }>(
      hub,
      `mutation($id: ID!, $input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(id: $id, input: $input) { ${SUBSCRIPTION_FIELDS} } }`,
      { token: admin, variables: { id, input: { url: 'http://127.0.0.1:8/b', eventTypes: ['token.revoked'], description: 'moved' } } },
    );
    expect(updated.data!.updateWebhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/b', eventTypes: ['token.revoked'], description: 'moved' });
    expect((await mutate('disableWebhookSubscription', id)).data!.disableWebhookSubscription).toEqual({ id, status: 'DISABLED', disabledReason: 'OPERATOR' });
    expect((await mutate('enableWebhookSubscription', id)).data!.enableWebhookSubscription).toEqual({ id, status: 'ENABLED', disabledReason: null });
    const deleted = await graphql<{ deleteWebhookSubscription: string }>(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } });
    expect(deleted.data!.deleteWebhookSubscription).toBe(id);
    expect((await byId(id)).data!.webhookSubscription).toBeNull();
    const again = await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } });
    expect(again.errors![0]!.extensions).toMatchObject({ code: 'NOT_FOUND' });
  });

  it('pages the delivery log with its own cursors, and refuses any other as BAD_USER_INPUT on after', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/log', ['consent.given']);
    const alice = await signUpUser(hub);
    await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
    await giveConsent(hub, alice.accessToken, { purpose: 'personalization' });
    const log = (after?: string) =>
      graphql<any>(hub, 'query($id: ID!, $after: String) { webhookSubscription(id: $id) { deliveries(first: 1, after: $after) { edges { node { messageId } } pageInfo { endCursor } } } }', {
        token: admin,
        variables: { id, after },
      });
    const first = (await log()).data.webhookSubscription.deliveries;
    const second = (await log(first.pageInfo.endCursor)).data.webhookSubscription.deliveries;
    expect(second.edges).toHaveLength(1);
    expect(second.edges[0].node.messageId).not.toBe(first.edges[0].node.messageId);
    for (const after of [encodeCursor(['not a cursor']), encodeCursor([alice.id])]) {
      expect((await log(after)).errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'after' });
    }
  });

  it('records each payload read in the trail of the person it is about, named as the person’s data it tells of', async () => {
    const types = ['consent.given', 'agent.registered', 'token.revoked', 'user.suspended'];
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/payloads', types);
    const alice = await signUpUser(hub);
    const bob = await signUpUser(hub);
    await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
    await registerAgent(hub, alice.accessToken, { allowedScopes: ['orders:read'], ownerUserId: alice.id });
    expect((await postForm(hub, '/oauth/revoke', { token: alice.refreshToken, client_id: 'hub-frontend' })).status).toBe(200);
    expect((await graphql(hub, 'mutation($id: ID!) { suspendUser(id: $id) { status } }', { token: admin, variables: { id: alice.id } })).errors).toBeUndefined();
    const reads = async (userId: string) => {
      await hub.services.audit.flush();
      return hub.services.db.selectFrom('audit_events').select(['id', 'actor_kind', 'fields_read', 'decision']).where('subject_user_id', '=', userId).where('action', '=', 'profile.read').execute();
    };
    const before = new Set([...(await reads(alice.id)), ...(await reads(bob.id))].map((e) => e.id));
    const readsOf = async (userId: string) => (await reads(userId)).filter((e) => !before.has(e.id)).map(({ id: _, ...e }) => e);
    const log = (node: string) => graphql<any>(hub, `query($id: ID!) { webhookSubscription(id: $id) { deliveries(first: 10) { edges { node { ${node} } } } } }`, { token: admin, variables: { id } });

    // The ids and types of messages tell nothing of anyone.
    expect((await log('messageId eventType')).data.webhookSubscription.deliveries.edges.map((e: any) => e.node.eventType).sort()).toEqual([...types].sort());
    expect(await readsOf(alice.id)).toEqual([]);

    const payloads = (await log('payload')).data.webhookSubscription.deliveries.edges.map((e: any) => JSON.parse(e.node.payload));
    expect(payloads.find((p: any) => p.type === 'consent.given').data).toMatchObject({ userId: alice.id, purpose: 'email_marketing' });
    expect(await readsOf(alice.id)).toEqual([{ actor_kind: 'client', fields_read: ['consents', 'id', 'sessions', 'status'], decision: 'allow' }]);
    expect(await readsOf(bob.id)).toEqual([]);
  });

  it('records a read of a password change’s payload as a read of the person’s sessions, which it tells how many ended', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/passwords', ['user.password_changed']);
    const carol = await signUpUser(hub);
    const changed = await graphql(hub, 'mutation($input: ChangePasswordInput!) { changePassword(input: $input) { accessToken } }', {
      token: carol.accessToken,
      variables: { input: { currentPassword: TEST_PASSWORD, newPassword: 'a quite different passphrase 7' } },
    });
    expect(changed.errors).toBeUndefined();
    const log = await graphql<any>(hub, 'query($id: ID!) { webhookSubscription(id: $id) { deliveries(first: 10) { edges { node { payload } } } } }', { token: admin, variables: { id } });
    expect(log.data.webhookSubscription.deliveries.edges.map((e: any) => JSON.parse(e.node.payload).data)).toEqual([{ userId: carol.id, sessionsEnded: 1 }]);
    await hub.services.audit.flush();
    const reads = await hub.services.db.selectFrom('audit_events').select(['actor_kind', 'fields_read']).where('subject_user_id', '=', carol.id).where('action', '=', 'profile.read').execute();
    expect(reads).toEqual([{ actor_kind: 'client', fields_read: ['sessions'] }]);
  });

  it('audits every change without the secret', async () => {
    const { id, secret } = await subscribe(hub, admin, 'http://127.0.0.1:8/audited?key=kept-out', ['consent.given']);
    await mutate('disableWebhookSubscription', id);
    const moved = await graphql(hub, 'mutation($id: ID!) { updateWebhookSubscription(id: $id, input: { url: "http://127.0.0.1:8/moved?key=also-kept-out" }) { id } }', { token: admin, variables: { id } });
    expect(moved.errors).toBeUndefined();
    await mutate('enableWebhookSubscription', id);
    const rotated = await graphql<{ rotateWebhookSecret: { secret: string } }>(hub, 'mutation($id: ID!) { rotateWebhookSecret(id: $id) { secret } }', { token: admin, variables: { id } });
    await giveConsent(hub, (await signUpUser(hub)).accessToken, { purpose: 'email_marketing' });
    const [message] = (await sql<{ message_id: string }>`select message_id from webhook_deliveries where subscription_id = ${id}`.execute(hub.services.db)).rows;
    const redelivered = await graphql(hub, 'mutation($s: ID!, $m: ID!) { redeliverWebhookMessage(subscriptionId: $s, messageId: $m) { messageId } }', { token: admin, variables: { s: id, m: message!.message_id } });
    expect(redelivered.errors).toBeUndefined();
    expect((await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } })).errors).toBeUndefined();

    const events = await hub.services.db.selectFrom('audit_events').select(['action', 'detail', 'actor_id']).where('action', 'like', 'webhook.%').orderBy('id').execute();
    const mine = events.filter((e) => (e.detail as { subscriptionId?: string }).subscriptionId === id);
    expect(mine.map((e) => e.action)).toEqual(['webhook.created', 'webhook.updated', 'webhook.updated', 'webhook.updated', 'webhook.secret_rotated', 'webhook.redelivered', 'webhook.deleted']);
    expect(new Set(mine.map((e) => e.actor_id)).size).toBe(1);
    for (const kept of [secret.slice(6), rotated.data!.rotateWebhookSecret.secret.slice(6), 'kept-out']) expect(JSON.stringify(mine)).not.toContain(kept);
  });

  it('deletes the one subscription named, leaving every other as it was', async () => {
    const kept = await subscribe(hub, admin, 'http://127.0.0.1:8/stays', ['consent.given']);
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/goes', ['consent.given']);
    const before = await countSubscriptions(hub);
    expect((await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } })).errors).toBeUndefined();
    expect(await countSubscriptions(hub)).toBe(before - 1);
    expect((await byId(kept.id)).data!.webhookSubscription).toMatchObject({ id: kept.id, url: 'http://127.0.0.1:8/stays', status: 'ENABLED' });
  });

  it('keeps what an update leaves out, clears the description set to null, and refuses an empty list of event types', async () => {
    const created = await create({ url: 'http://127.0.0.1:8/described', eventTypes: ['consent.given', 'user.erased'], description: 'CRM sync' });
    const id = created.data!.createWebhookSubscription.subscription.id as string;
    const update = (input: Record<string, unknown>) =>
      graphql<{ updateWebhookSubscription: Record<string, unknown> }>(hub, `mutation($id: ID!, $input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(id: $id, input: $input) { ${SUBSCRIPTION_FIELDS} } }`, {
        token: admin,
        variables: { id, input },
      });
    expect((await update({ url: 'http://127.0.0.1:8/moved' })).data!.updateWebhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/moved', eventTypes: ['consent.given', 'user.erased'], description: 'CRM sync' });
    const empty = await update({ eventTypes: [] });
    expect(empty.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.eventTypes' });
    expect((await update({ eventTypes: ['user.erased', 'user.erased'] })).data!.updateWebhookSubscription).toMatchObject({ eventTypes: ['user.erased'], description: 'CRM sync' });
    expect((await update({ description: null })).data!.updateWebhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/moved', eventTypes: ['user.erased'], description: null });
    expect((await byId(id)).data!.webhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/moved', eventTypes: ['user.erased'], description: null });
  });

  it('keeps the old secret signing for a day when a rotation names no grace period', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/rotated', ['consent.given']);
    const rotated = await graphql<{ rotateWebhookSecret: { subscription: { previousSecretExpiresAt: string } } }>(hub, 'mutation($id: ID!) { rotateWebhookSecret(id: $id) { subscription { previousSecretExpiresAt } } }', {
      token: admin,
      variables: { id },
    });
    expect(rotated.data!.rotateWebhookSecret.subscription.previousSecretExpiresAt).toBe(new Date(hub.services.clock.now().getTime() + 86_400_000).toISOString());
  });

  it('answers NOT_FOUND for a change to a subscription that does not exist', async () => {
    const missing = 'whk_01J00000000000000000000000';
    const changes = [
      `mutation { updateWebhookSubscription(id: "${missing}", input: { description: "x" }) { id } }`,
      `mutation { disableWebhookSubscription(id: "${missing}") { id } }`,
      `mutation { enableWebhookSubscription(id: "${missing}") { id } }`,
      `mutation { rotateWebhookSecret(id: "${missing}") { secret } }`,
      `mutation { redeliverWebhookMessage(subscriptionId: "${missing}", messageId: "msg_01J00000000000000000000000") { messageId } }`,
    ];
    for (const mutation of changes) {
      const response = await graphql(hub, mutation, { token: admin });
      expect(response.errors?.[0]?.extensions, mutation.slice(0, 40)).toMatchObject({ code: 'NOT_FOUND' });
    }
  });

  it('answers each of several subscriptions asked for in one request with its own, and null for an unknown id', async () => {
    const first = await subscribe(hub, admin, 'http://127.0.0.1:8/first', ['consent.given']);
    const second = await subscribe(hub, admin, 'http://127.0.0.1:8/second', ['user.erased']);
    const response = await graphql<Record<string, { id: string; url: string } | null>>(
      hub,
      'query($a: ID!, $b: ID!, $c: ID!) { b: webhookSubscription(id: $b) { id url } c: webhookSubscription(id: $c) { id url } a: webhookSubscription(id: $a) { id url } }',
      { token: admin, variables: { a: first.id, b: second.id, c: 'whk_01J00000000000000000000000' } },
    );
    expect(response.data).toEqual({ b: { id: second.id, url: 'http://127.0.0.1:8/second' }, c: null, a: { id: first.id, url: 'http://127.0.0.1:8/first' } });
  });

  it('lists only the deliveries of the status asked for, beside the whole log in the same request', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/filtered', ['consent.given', 'user.erased']);
    const alice = await signUpUser(hub);
    await giveConsent(hub, alice.accessToken, { purpose: 'email_marketing' });
    await graphql(hub, 'mutation($id: ID!, $input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(id: $id, input: $input) { id } }', { token: admin, variables: { id, input: { eventTypes: ['user.erased'] } } });
    await giveConsent(hub, alice.accessToken, { purpose: 'personalization' });
    await graphql(hub, 'mutation($id: ID!, $input: UpdateWebhookSubscriptionInput!) { updateWebhookSubscription(id: $id, input: $input) { id } }', { token: admin, variables: { id, input: { eventTypes: ['consent.given', 'user.erased'] } } });
    await giveConsent(hub, (await signUpUser(hub)).accessToken, { purpose: 'email_marketing' });
    const response = await graphql<any>(
      hub,
      `query($id: ID!) { webhookSubscription(id: $id) {
        all: deliveries(first: 10) { edges { node { status } } }
        failed: deliveries(first: 10, status: FAILED) { edges { node { status } } }
        pending: deliveries(first: 10, status: PENDING) { edges { node { status } } } } }`,
      { token: admin, variables: { id } },
    );
    const statuses = (list: string) => response.data.webhookSubscription[list].edges.map((e: any) => e.node.status);
    expect(statuses('all').sort()).toEqual(['FAILED', 'PENDING']);
    expect(statuses('failed')).toEqual(['FAILED']);
    expect(statuses('pending')).toEqual(['PENDING']);
  });

  it('requires webhooks:admin: an operator without it is refused, and so is a caller without a token', async () => {
    const other = await clientToken(hub, ['agents:admin', 'audit:read'], 'agt_01J0000000000000000000NOWH');
    const refused = await create({ url: 'http://127.0.0.1:8/x', eventTypes: ['consent.given'] }, other);
    expect(refused.data).toBeNull();
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const list = await graphql(hub, '{ webhookSubscriptions { edges { node { id } } } }', { token: other });
    expect(list.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    const existing = (await create({ url: 'http://127.0.0.1:8/kept', eventTypes: ['consent.given'] })).data!.createWebhookSubscription.subscription.id;
    for (const query of [`{ webhookSubscription(id: "${existing}") { id url } }`, '{ webhookEventTypes }']) {
      const refusedRead = await graphql<any>(hub, query, { token: other });
      expect(JSON.stringify(refusedRead.data)).not.toContain('kept');
      expect(refusedRead.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    const anonymous = await graphql(hub, '{ webhookSubscriptions { edges { node { id } } } }');
    expect(anonymous.errors![0]!.extensions).toMatchObject({ code: 'UNAUTHENTICATED' });
    for (const name of ['disableWebhookSubscription', 'enableWebhookSubscription', 'rotateWebhookSecret']) {
      const denied = await graphql(hub, `mutation { ${name}(id: "whk_01J00000000000000000000000") { __typename } }`, { token: other });
      expect(denied.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    // Changing or deleting an existing subscription is refused, and leaves it as it was.
    const changes = [
      `mutation { updateWebhookSubscription(id: "${existing}", input: { url: "http://127.0.0.1:8/elsewhere", eventTypes: ["user.erased"] }) { id } }`,
      `mutation { deleteWebhookSubscription(id: "${existing}") }`,
    ];
    for (const mutation of changes) {
      const denied = await graphql(hub, mutation, { token: other });
      expect(denied.errors![0]!.extensions, mutation.slice(0, 40)).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
    }
    expect((await byId(existing as string)).data!.webhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/kept', eventTypes: ['consent.given'] });
    const redeliver = await graphql(hub, 'mutation { redeliverWebhookMessage(subscriptionId: "whk_x", messageId: "msg_x") { messageId } }', { token: other });
    expect(redeliver.errors![0]!.extensions).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
  });

  it('refuses a customer’s own token on every webhook field, and lets it change nothing', async () => {
    const alice = await signUpUser(hub);
    const existing = await subscribe(hub, admin, 'http://127.0.0.1:8/customers-cannot', ['consent.given']);
    const before = await countSubscriptions(hub);
    const fields = [
      '{ webhookSubscriptions { edges { node { id url } } } }',
      `{ webhookSubscription(id: "${existing.id}") { id url } }`,
      '{ webhookEventTypes }',
      'mutation { createWebhookSubscription(input: { url: "http://127.0.0.1:8/mine", eventTypes: ["consent.given"] }) { secret } }',
      `mutation { updateWebhookSubscription(id: "${existing.id}", input: { url: "http://127.0.0.1:8/mine" }) { id } }`,
      `mutation { disableWebhookSubscription(id: "${existing.id}") { id } }`,
      `mutation { enableWebhookSubscription(id: "${existing.id}") { id } }`,
      `mutation { rotateWebhookSecret(id: "${existing.id}") { secret } }`,
      `mutation { redeliverWebhookMessage(subscriptionId: "${existing.id}", messageId: "msg_01J00000000000000000000000") { messageId } }`,
      `mutation { deleteWebhookSubscription(id: "${existing.id}") }`,
    ];
    for (const field of fields) {
      const refused = await graphql<any>(hub, field, { token: alice.accessToken });
      expect(refused.errors?.[0]?.extensions, field.slice(0, 50)).toMatchObject({ code: 'FORBIDDEN', reason: 'MISSING_SCOPE' });
      expect(JSON.stringify(refused.data ?? null), field.slice(0, 50)).not.toContain('127.0.0.1');
    }
    expect(await countSubscriptions(hub)).toBe(before);
    expect((await byId(existing.id)).data!.webhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/customers-cannot', status: 'ENABLED', previousSecretExpiresAt: null });
  });

  it('refuses bad input with BAD_USER_INPUT naming the field, and writes nothing', async () => {
    const before = (await graphql<{ webhookSubscriptions: { edges: unknown[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { cursor } } }', { token: admin })).data!.webhookSubscriptions.edges.length;
    const cases: [Record<string, unknown>, string, RegExp][] = [
      [{ url: 'ftp://127.0.0.1/x', eventTypes: ['consent.given'] }, 'input.url', /http or https/],
      [{ url: 'not a url', eventTypes: ['consent.given'] }, 'input.url', /absolute http/],
      [{ url: 'http://user:pw@127.0.0.1/x', eventTypes: ['consent.given'] }, 'input.url', /credentials/],
      // A password alone is a credential too, shown to whoever sees the URL.
      [{ url: 'http://:pw@127.0.0.1/x', eventTypes: ['consent.given'] }, 'input.url', /credentials/],
      // Ports the Fetch Standard blocks: a mail, IRC or SIP server could read the request as commands.
      [{ url: 'http://127.0.0.1:25/x', eventTypes: ['consent.given'] }, 'input.url', /port 25, which the Fetch Standard blocks/],
      [{ url: 'https://receiver.example:6667/x', eventTypes: ['consent.given'] }, 'input.url', /port 6667/],
      [{ url: `http://127.0.0.1/${'a'.repeat(2_100)}`, eventTypes: ['consent.given'] }, 'input.url', /at most 2048/],
      // Refused as typed, before it is parsed, though it would normalize to a short URL.
      [{ url: `http://127.0.0.1/${'./'.repeat(1_100)}x`, eventTypes: ['consent.given'] }, 'input.url', /at most 2048 characters$/],
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
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/grace', ['consent.given']);
    const grace = await graphql(hub, 'mutation($id: ID!) { rotateWebhookSecret(id: $id, gracePeriodSeconds: 999999999) { secret } }', { token: admin, variables: { id } });
    expect(grace.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'gracePeriodSeconds' });
    const after = (await graphql<{ webhookSubscriptions: { edges: unknown[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { cursor } } }', { token: admin })).data!.webhookSubscriptions.edges.length;
    expect(after).toBe(before + 1);
  });

  it('refuses a URL too long once percent-encoded with BAD_USER_INPUT, on create and on update, and writes nothing', async () => {
    const count = async () => (await graphql<{ webhookSubscriptions: { edges: unknown[] } }>(hub, '{ webhookSubscriptions(first: 100) { edges { cursor } } }', { token: admin })).data!.webhookSubscriptions.edges.length;
    const before = await count();
    // Each is under 2,048 characters as typed, and over it stored: 'é' becomes '%C3%A9', a space '%20'.
    const long = [`http://127.0.0.1/${'é'.repeat(1_000)}`, `http://127.0.0.1/?q=${' x'.repeat(1_000)}`];
    for (const url of long) {
      expect(url.length).toBeLessThanOrEqual(2_048);
      const response = await create({ url, eventTypes: ['consent.given'] });
      expect(response.errors![0]!.extensions, url.slice(0, 40)).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
      expect(response.errors![0]!.message).toMatch(/at most 2048/);
    }
    expect(await count()).toBe(before);

    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/kept', ['consent.given']);
    const updated = await graphql(hub, 'mutation($id: ID!, $url: String!) { updateWebhookSubscription(id: $id, input: { url: $url }) { url } }', { token: admin, variables: { id, url: long[0] } });
    expect(updated.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.url' });
    expect((await byId(id)).data!.webhookSubscription).toMatchObject({ url: 'http://127.0.0.1:8/kept' });
  });
});

const countSubscriptions = async (hub: Hub) => (await sql<{ n: number }>`select count(*)::int as n from webhook_subscriptions`.execute(hub.services.db)).rows[0]!.n;

describe('the number of webhook subscriptions', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    ({ hub } = await startWebhookHub());
    admin = await adminToken(hub);
  });
  afterAll(() => hub.close());

  it('is at most 100: one more is refused with BAD_USER_INPUT until one is deleted', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 100; i++) ids.push((await subscribe(hub, admin, `http://127.0.0.1:8/hooks/${i}`, ['consent.given'])).id);
    const create = () =>
      graphql<{ createWebhookSubscription: { subscription: { id: string } } }>(
        hub,
        'mutation { createWebhookSubscription(input: { url: "http://127.0.0.1:8/one-more", eventTypes: ["consent.given"] }) { subscription { id } } }',
        { token: admin },
      );
    const refused = await create();
    expect(refused.errors![0]!.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input' });
    expect(refused.errors![0]!.message).toMatch(/at most 100 webhook subscriptions/);
    expect(await countSubscriptions(hub)).toBe(100);

    await graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id: ids[0] } });
    expect((await create()).errors).toBeUndefined();
  });
});

describe.skipIf(testServerUrl() === undefined)('webhook subscriptions created at the same time', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    ({ hub } = await startWebhookHub());
    admin = await adminToken(hub);
  });
  afterAll(() => hub.close());
  const { holding, waiters } = lockHolder(() => hub.services.db);

  it('never number more than 100 together: of two taking the last place, one is refused', async () => {
    for (let i = 0; i < 99; i++) await subscribe(hub, admin, `http://127.0.0.1:8/hooks/${i}`, ['consent.given']);
    // Each creation waits to audit, on the hub's chain, once it has counted the subscriptions.
    const held = await holding((tx) => tx.selectFrom('audit_chain_heads').select('chain_key').where('chain_key', '=', HUB_CHAIN_KEY).forUpdate().execute());
    const creations = [1, 2].map((i) =>
      graphql(hub, 'mutation($url: String!) { createWebhookSubscription(input: { url: $url, eventTypes: ["consent.given"] }) { subscription { id } } }', {
        token: admin,
        variables: { url: `http://127.0.0.1:8/last/${i}` },
      }),
    );
    await waiters(2);
    await held.release();
    const results = await Promise.all(creations);
    expect(results.filter((r) => r.errors === undefined)).toHaveLength(1);
    expect(results.flatMap((r) => r.errors ?? []).map((e) => e.extensions)).toEqual([expect.objectContaining({ code: 'BAD_USER_INPUT', field: 'input' })]);
    expect(await countSubscriptions(hub)).toBe(100);
  });
});

// Operators' changes to a subscription racing the transactions that raise its events, on a real
// server (PGlite has one connection, so nothing there runs concurrently). Each race is forced into
// one order by a transaction that holds one of the subscription's deliveries: the operator's
// change waits there, after it has locked the subscription and before it audits.
describe.skipIf(testServerUrl() === undefined)('webhook subscriptions changed while their events are raised', () => {
  let hub: Hub;
  let admin: string;
  beforeAll(async () => {
    ({ hub } = await startWebhookHub());
    admin = await adminToken(hub);
  });
  afterAll(() => hub.close());
  const { holding, waiters } = lockHolder(() => hub.services.db);
  const holdDeliveries = (subscriptionId: string) => holding((tx) => sql`select 1 from webhook_deliveries where subscription_id = ${subscriptionId} for update`.execute(tx));

  it('a subscription is being deleted: a consent raising its event waits, then commits without it', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/hooks', ['consent.given']);
    const user = await signUpUser(hub);
    await giveConsent(hub, user.accessToken, { purpose: 'email_marketing' });
    const held = await holdDeliveries(id);
    const deletion = graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } });
    await waiters(1);
    const consent = graphql<{ giveConsent: { id: string } }>(hub, 'mutation { giveConsent(input: { purpose: "personalization" }) { id } }', { token: user.accessToken });
    await waiters(2);
    await held.release();

    const [deleted, given] = await Promise.all([deletion, consent]);
    expect(deleted.errors).toBeUndefined();
    expect(given.errors).toBeUndefined();
    expect(given.data!.giveConsent.id).toMatch(/^cns_/);
    expect((await sql`select 1 from webhook_deliveries where subscription_id = ${id}`.execute(hub.services.db)).rows).toEqual([]);
  });

  it('a subscription is being deleted: an agent registered meanwhile waits, then commits without it', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/hooks', ['agent.registered']);
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const held = await holdDeliveries(id);
    const deletion = graphql(hub, 'mutation($id: ID!) { deleteWebhookSubscription(id: $id) }', { token: admin, variables: { id } });
    await waiters(1);
    // Both audit on the hub's chain: the registration waits there, not after it has written to it.
    const registration = graphql(hub, 'mutation { registerAgent(input: { name: "A", kind: AI_AGENT, allowedScopes: ["orders:read"] }) { clientId } }', { token: admin });
    await waiters(2);
    await held.release();

    const [deleted, registered] = await Promise.all([deletion, registration]);
    expect(deleted.errors).toBeUndefined();
    expect(registered.errors).toBeUndefined();
  });

  it('a message is being redelivered: an agent registered meanwhile raises its event without waiting, and both commit', async () => {
    const { id } = await subscribe(hub, admin, 'http://127.0.0.1:8/hooks', ['agent.registered']);
    await registerAgent(hub, admin, { allowedScopes: ['orders:read'] });
    const [message] = (await sql<{ message_id: string }>`select message_id from webhook_deliveries where subscription_id = ${id}`.execute(hub.services.db)).rows;
    const held = await holdDeliveries(id);
    const redelivery = graphql(hub, 'mutation($s: ID!, $m: ID!) { redeliverWebhookMessage(subscriptionId: $s, messageId: $m) { messageId } }', {
      token: admin,
      variables: { s: id, m: message!.message_id },
    });
    await waiters(1);
    // Waiting for the redelivery's lock, it would deadlock with it: the redelivery audits on the
    // hub's chain next, which the registration has already written to.
    const registration = graphql(hub, 'mutation { registerAgent(input: { name: "A", kind: AI_AGENT, allowedScopes: ["orders:read"] }) { clientId } }', { token: admin });
    let answered = false;
    void registration.then(() => (answered = true));
    await expect.poll(() => answered, { timeout: 5_000 }).toBe(true);
    await held.release();

    const [redelivered, registered] = await Promise.all([redelivery, registration]);
    expect(redelivered.errors).toBeUndefined();
    expect(registered.errors).toBeUndefined();
  });
});
