import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeJwt } from 'jose';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { TEST_ENV, graphql, signIn, signUpUser } from '../helpers/hub.js';
import { operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

// A consent that lapsed at its expiresAt was never withdrawn: the ledger, its receipts and the
// audit trail are evidence, and must not record a withdrawal by the person, days after the lapse,
// because a later consent for the same purpose (or an erasure) swept it up. What they record of
// the lapse, the trail records too: every ledger event has its audit event.
const clock = fixedClock(new Date());
let hub: Hub;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig(TEST_ENV), { database: await createTestDatabase(), clock });
  assistant = await registerAgent(hub, await operatorToken(hub), { name: 'Assistant', allowedScopes: ['orders:read'] });
});
afterAll(() => hub.close());

const FIELDS = 'id status expiresAt withdrawnAt withdrawalReceipt history { kind occurredAt }';
const give = (token: string, input: Record<string, unknown>) =>
  graphql<any>(hub, `mutation($input: GiveConsentInput!) { giveConsent(input: $input) { ${FIELDS} } }`, { token, variables: { input } });
const read = (token: string, id: string) => graphql<any>(hub, `query($id: ID!) { consent(id: $id) { ${FIELDS} } }`, { token, variables: { id } });

describe('an expired consent superseded by a new one', () => {
  it('stays EXPIRED: no withdrawal, no withdrawal receipt, no consent.withdrawn in the trail', async () => {
    const alice = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 86_400_000).toISOString();
    const first = await give(alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt });
    expect(first.errors).toBeUndefined();
    const id = first.data.giveConsent.id as string;

    clock.advance(30 * 86_400); // a month later; the consent lapsed 29 days ago
    const session = await signIn(hub, alice);
    expect((await read(session.accessToken, id)).data.consent.status).toBe('EXPIRED');

    const second = await give(session.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
    expect(second.errors).toBeUndefined();

    const after = (await read(session.accessToken, id)).data.consent;
    const receipt = after.withdrawalReceipt ? decodeJwt(after.withdrawalReceipt) : null;
    await hub.services.audit.flush();
    const withdrawnEvents = await hub.services.db.selectFrom('audit_events').select(['action', 'reason']).where('consent_id', '=', id).where('action', '=', 'consent.withdrawn').execute();
    expect({ status: after.status, withdrawnAt: after.withdrawnAt, history: after.history.map((e: any) => e.kind), receiptStatus: receipt?.consentStatus ?? null, withdrawnEvents }).toEqual({
      status: 'EXPIRED',
      withdrawnAt: null,
      history: ['given', 'expired'],
      receiptStatus: null,
      withdrawnEvents: [],
    });
  });
});

describe('a lapsed consent the user then withdraws', () => {
  it('has an audit event for every ledger event', async () => {
    const alice = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 86_400_000).toISOString();
    const id = (await give(alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt })).data.giveConsent.id as string;
    clock.advance(2 * 86_400);
    const session = await signIn(hub, alice);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status } }', { token: session.accessToken, variables: { id } });
    expect(withdrawn.errors).toBeUndefined();

    await hub.services.audit.flush();
    const ledger = await hub.services.db.selectFrom('consent_events').select(['kind', 'occurred_at']).where('consent_id', '=', id).orderBy('id').execute();
    const audited = await hub.services.db.selectFrom('audit_events').select(['action', 'actor_kind', 'request_id', 'detail']).where('consent_id', '=', id).where('action', 'like', 'consent.%').execute();
    expect(ledger.map((e) => e.kind)).toEqual(['given', 'expired']);
    expect(audited.map((a) => `${a.action} by ${a.actor_kind}`).sort()).toEqual(['consent.expired by system', 'consent.given by user']);
    // The lapse happened at the expiry, a day before the request that found it; the trail ties
    // its record to that request.
    expect(ledger[1]!.occurred_at).toEqual(new Date(expiresAt));
    expect(audited.find((a) => a.action === 'consent.expired')).toMatchObject({ request_id: withdrawn.headers['x-request-id'], detail: { expiredAt: expiresAt } });
  });
});

describe('a consent withdrawn at the very instant of its expiry', () => {
  it('lapsed then: the ledger records its lapse, not a withdrawal, and not nothing', async () => {
    const alice = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 86_400_000);
    const id = (await give(alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt: expiresAt.toISOString() })).data.giveConsent.id as string;
    clock.advance(86_400);
    expect(clock.now()).toEqual(expiresAt);
    const session = await signIn(hub, alice);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status withdrawnAt history { kind occurredAt } } }', { token: session.accessToken, variables: { id } });
    expect(withdrawn.errors).toBeUndefined();
    expect(withdrawn.data.withdrawConsent).toEqual({
      status: 'EXPIRED',
      withdrawnAt: null,
      history: [
        { kind: 'given', occurredAt: expect.any(String) },
        { kind: 'expired', occurredAt: expiresAt.toISOString() },
      ],
    });
    const stored = await hub.services.db.selectFrom('consents').select('status').where('id', '=', id).executeTakeFirstOrThrow();
    expect(stored.status).toBe('expired');
  });
});

describe('a withdrawn consent withdrawn again past its expiry', () => {
  it('stays WITHDRAWN: the withdrawal that ended it is not rewritten as a lapse', async () => {
    const alice = await signUpUser(hub);
    const expiresAt = new Date(clock.now().getTime() + 86_400_000).toISOString();
    const id = (await give(alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'], expiresAt })).data.giveConsent.id as string;
    const withdraw = (token: string) => graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { status withdrawnAt history { kind } } }', { token, variables: { id } });
    const first = (await withdraw(alice.accessToken)).data.withdrawConsent;
    expect(first).toMatchObject({ status: 'WITHDRAWN', history: [{ kind: 'given' }, { kind: 'withdrawn' }] });
    clock.advance(2 * 86_400);
    const session = await signIn(hub, alice);

    const again = await withdraw(session.accessToken);
    expect(again.errors).toBeUndefined();
    expect(again.data.withdrawConsent).toEqual(first);
    await hub.services.audit.flush();
    const audited = await hub.services.db.selectFrom('audit_events').select('action').where('consent_id', '=', id).where('action', '=', 'consent.expired').execute();
    expect(audited).toEqual([]);
  });
});
