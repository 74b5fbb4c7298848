import { createHash } from 'node:crypto';
import { createLocalJWKSet, createRemoteJWKSet, decodeJwt, decodeProtectedHeader, jwtVerify, type JSONWebKeySet } from 'jose';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createHub, type Hub } from '../../src/app.js';
import { loadConfig } from '../../src/config.js';
import { rotateSigningKey } from '../../src/oauth/key-store.js';
import { resolveKeyEncryptionKey } from '../../src/oauth/key-encryption.js';
import { fixedClock } from '../../src/shared/clock.js';
import { createTestDatabase } from '../helpers/database.js';
import { CONTROLLER_ENV, TEST_ENV, graphql, signUpUser } from '../helpers/hub.js';
import { definePurpose, giveConsent, operatorToken, registerAgent, type RegisteredAgent } from '../helpers/oauth.js';

const clock = fixedClock('2031-05-01T10:00:00Z');
let hub: Hub;
let admin: string;
let alice: Awaited<ReturnType<typeof signUpUser>>;
let assistant: RegisteredAgent;
beforeAll(async () => {
  hub = await createHub(loadConfig({ ...TEST_ENV, ...CONTROLLER_ENV }), { database: await createTestDatabase(), clock });
  admin = await operatorToken(hub);
  alice = await signUpUser(hub);
  assistant = await registerAgent(hub, admin, { name: 'Assistant', allowedScopes: ['orders:read', 'contact:read'] });
});
afterAll(() => hub.close());

/** The key set receipts verify against: every key that ever signed. */
const jwks = async (url = '/receipts/jwks.json') => JSON.parse((await hub.http.inject({ method: 'GET', url })).body) as JSONWebKeySet;
const receiptOf = async (id: string) =>
  (await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { receipt history { kind actorKind reason } } }', { token: alice.accessToken, variables: { id } })).data.consent;

describe('purposes', () => {
  it('lists the four default purposes from the registry, to anyone', async () => {
    const response = await graphql<any>(hub, '{ purposes { key version lawfulBasis dataCategories noticeUrl noticeSha256 } }');
    expect(response.data.purposes.map((p: any) => p.key)).toEqual(expect.arrayContaining(['checkout', 'email_marketing', 'personalization', 'support']));
    expect(response.data.purposes.find((p: any) => p.key === 'checkout')).toMatchObject({ version: '1', lawfulBasis: 'CONTRACT', dataCategories: ['contact', 'address', 'payment'], noticeSha256: expect.stringMatching(/^[0-9a-f]{64}$/) });
  });

  it('is managed with consents:admin only', async () => {
    const input = { key: 'surveys', title: 'Surveys', description: 'd', lawfulBasis: 'LEGITIMATE_INTEREST', dataCategories: ['contact.email'], noticeUrl: 'https://hub.example/n', noticeText: 'n' };
    const query = 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { key version } }';
    expect((await graphql<any>(hub, query, { token: alice.accessToken, variables: { i: input } })).errors?.[0]?.extensions?.code).toBe('FORBIDDEN');
    expect((await graphql<any>(hub, query, { token: admin, variables: { i: input } })).data.definePurpose).toEqual({ key: 'surveys', version: '1' });
    expect((await graphql<any>(hub, query, { token: admin, variables: { i: input } })).data.definePurpose).toEqual({ key: 'surveys', version: '1' });
    expect((await graphql<any>(hub, query, { token: admin, variables: { i: { ...input, noticeText: 'changed' } } })).data.definePurpose).toEqual({ key: 'surveys', version: '2' });
    expect((await graphql<any>(hub, query, { token: admin, variables: { i: { ...input, dataCategories: ['nonsense'] } } })).errors?.[0]?.extensions?.code).toBe('BAD_USER_INPUT');
  });

  it('records each new version of a purpose in the audit trail, by the operator who defined it, and nothing for a definition that changes nothing', async () => {
    const input = { key: 'polls', title: 'Polls', description: 'd', lawfulBasis: 'CONSENT', dataCategories: ['contact.email'], noticeUrl: 'https://hub.example/polls', noticeText: 'n' };
    const define = async (changes: Record<string, unknown>) =>
      (await graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { version } }', { token: admin, variables: { i: { ...input, ...changes } } })).data.definePurpose.version;
    expect([await define({}), await define({}), await define({ dataCategories: ['contact.email', 'preferences'] })]).toEqual(['1', '1', '2']);
    const events = await hub.services.db.selectFrom('audit_events').select(['actor_kind', 'actor_id', 'decision', 'detail']).where('action', '=', 'purpose.defined').where('purpose', '=', 'polls').execute();
    const operator = hub.bootstrapCredentials!.clientId;
    expect(events.sort((a, b) => String(a.detail.version).localeCompare(String(b.detail.version)))).toEqual([
      { actor_kind: 'client', actor_id: operator, decision: 'allow', detail: { version: '1', dataCategories: ['contact.email'] } },
      { actor_kind: 'client', actor_id: operator, decision: 'allow', detail: { version: '2', dataCategories: ['contact.email', 'preferences'] } },
    ]);
  });

  it('refuses a purpose that covers no data: a consent to it would sign a receipt for nothing', async () => {
    const input = { key: 'nothing', title: 'Nothing', description: 'd', lawfulBasis: 'CONSENT', dataCategories: [], noticeUrl: 'https://hub.example/nothing', noticeText: 'n' };
    const response = await graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { version } }', { token: admin, variables: { i: input } });
    expect(response.errors?.[0]?.extensions).toMatchObject({ code: 'BAD_USER_INPUT', field: 'input.dataCategories' });
    expect((await graphql<any>(hub, '{ purposes { key } }')).data.purposes.map((p: any) => p.key)).not.toContain('nothing');
  });

  it('refuses a notice that is no web page, a language that is no BCP 47 tag and an empty jurisdiction: receipts sign them', async () => {
    const input = { key: 'contests', title: 'Contests', description: 'd', lawfulBasis: 'CONSENT', dataCategories: ['contact.email'], noticeUrl: 'https://hub.example/contests', noticeText: 'n' };
    const define = async (changes: Record<string, unknown>) =>
      (await graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { key } }', { token: admin, variables: { i: { ...input, ...changes } } })).errors?.[0];
    for (const noticeUrl of ['javascript:alert(document.cookie)', 'data:text/html,<script>alert(1)</script>', 'file:///etc/passwd']) {
      expect(await define({ noticeUrl })).toMatchObject({ message: 'input.noticeUrl: must be an http or https URL', extensions: { code: 'BAD_USER_INPUT' } });
    }
    expect(await define({ noticeUrl: 'not a url' })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.noticeUrl' } });
    expect(await define({ language: '' })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.language' } });
    expect(await define({ language: 'en_US' })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.language' } });
    expect(await define({ jurisdiction: ' ' })).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.jurisdiction' } });
    expect(await define({ language: 'de-CH', jurisdiction: 'CH' })).toBeUndefined();
    expect((await graphql<any>(hub, '{ purposes { key } }')).data.purposes.map((p: any) => p.key)).toContain('contests');
  });

  it('keeps a purpose’s language and jurisdiction in a new version that leaves them out: receipts sign them', async () => {
    const input = { key: 'tastings', title: 'Tastings', description: 'd', lawfulBasis: 'CONSENT', dataCategories: ['contact.email'], noticeUrl: 'https://hub.example/tastings', noticeText: 'n' };
    const define = async (changes: Record<string, unknown>) =>
      (await graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { version language jurisdiction } }', { token: admin, variables: { i: { ...input, ...changes } } })).data
        .definePurpose;
    expect(await define({ language: 'de-CH', jurisdiction: 'CH' })).toEqual({ version: '1', language: 'de-CH', jurisdiction: 'CH' });
    expect(await define({})).toEqual({ version: '1', language: 'de-CH', jurisdiction: 'CH' });
    expect(await define({ title: 'Wine tastings' })).toEqual({ version: '2', language: 'de-CH', jurisdiction: 'CH' });
    expect(await define({ title: 'Wine tastings', language: 'fr-CH' })).toEqual({ version: '3', language: 'fr-CH', jurisdiction: 'CH' });
    // A purpose's first version, given neither, is in English for the EU.
    expect(await define({ key: 'pairings' })).toEqual({ version: '1', language: 'en', jurisdiction: 'EU' });
  });

  it('refuses a notice URL that shows one host and opens another, a language that is no well-formed tag, and stores the canonical one', async () => {
    const input = { key: 'raffles', title: 'Raffles', description: 'd', lawfulBasis: 'CONSENT', dataCategories: ['contact.email'], noticeUrl: 'https://hub.example/raffles', noticeText: 'n' };
    const define = (changes: Record<string, unknown>) =>
      graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { language } }', { token: admin, variables: { i: { ...input, ...changes } } });
    for (const noticeUrl of ['https://hub.example@evil.example/raffles', 'https://hub.example:secret@evil.example/raffles']) {
      expect((await define({ noticeUrl })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.noticeUrl' } });
    }
    // Matches the tag grammar's letters and dashes, but a singleton takes a subtag after it (RFC 5646 §2.1).
    expect((await define({ language: 'en-a' })).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.language' } });
    expect((await define({ language: 'DE-ch' })).data.definePurpose).toEqual({ language: 'de-CH' });
  });

  it('refuses a notice a person would not see as it is hashed into receipts: blank, or with bidi overrides or invisible characters; keeps its lines', async () => {
    const input = { key: 'quizzes', title: 'Quizzes', description: 'd', lawfulBasis: 'CONSENT', dataCategories: ['contact.email'], noticeUrl: 'https://hub.example/quizzes' };
    const define = (noticeText: string) =>
      graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { noticeSha256 } }', { token: admin, variables: { i: { ...input, noticeText } } });
    // CVE-2021-42574: shown as "We never share your location", hashed as written.
    for (const noticeText of ['   \n\t  ', 'We never share \u202enoitacol ruoy\u202c with partners.', 'We never\u200b share your data.', 'We email you.\u0007', 'We email you.\rWe never share your data.']) {
      expect((await define(noticeText)).errors?.[0]).toMatchObject({ extensions: { code: 'BAD_USER_INPUT', field: 'input.noticeText' } });
    }
    const notice = 'We email you offers.\r\n\nYou may withdraw at any time.';
    expect((await define(notice)).data.definePurpose).toEqual({ noticeSha256: createHash('sha256').update(notice).digest('hex') });
  });
});

describe('consent receipts', () => {
  it('claim the data the consent gives: a field alone as that field, a field beside its whole category as the category', async () => {
    const piiCategory = async (scopes: string[]) => {
      const { receipt } = await receiptOf(await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes }));
      return (decodeJwt(receipt) as any).services[0].purposes[0].piiCategory;
    };
    expect(await piiCategory(['contact.email:read'])).toEqual(['contact.email']);
    expect(await piiCategory(['contact.email:read', 'contact:read', 'orders:read'])).toEqual(['contact', 'orders']);
  });

  it('name a consent the signed-in person gave EXPLICIT, whatever channel the client names', async () => {
    const consentType = async (collectionMethod?: string) => {
      const { receipt } = await receiptOf(await giveConsent(hub, alice.accessToken, { purpose: 'personalization', ...(collectionMethod && { collectionMethod }) }));
      return (decodeJwt(receipt) as any).services[0].purposes[0].consentType;
    };
    expect(await consentType()).toBe('EXPLICIT');
    expect(await consentType('web_form')).toBe('EXPLICIT');
    expect(await consentType('chat_widget')).toBe('EXPLICIT');
  });

  it('name the sensitive data a consent covers, when it ends, and the agent it discloses the data to', async () => {
    const operator = await operatorToken(hub);
    const concierge = await registerAgent(hub, operator, { name: 'Concierge', allowedScopes: ['identity:read', 'orders:read'] });
    expect(await definePurpose(hub, operator, 'gift_reminders', ['identity', 'orders'])).toBe('1');
    const claimsOf = async (input: Record<string, unknown>) => decodeJwt((await receiptOf(await giveConsent(hub, alice.accessToken, { purpose: 'gift_reminders', agentId: concierge.id, ...input }))).receipt) as any;

    const expiresAt = new Date(clock.now().getTime() + 7 * 86_400_000);
    expect(await claimsOf({ scopes: ['orders:read', 'identity.birthdate:read'], expiresAt: expiresAt.toISOString() })).toMatchObject({
      sensitive: true,
      spiCat: ['identity.birthdate'],
      expiresAt: Math.floor(expiresAt.getTime() / 1_000),
      services: [{ service: concierge.id, purposes: [{ piiCategory: ['orders', 'identity.birthdate'], termination: expiresAt.toISOString(), thirdPartyDisclosure: true, thirdPartyName: concierge.id }] }],
    });
    expect(await claimsOf({ scopes: ['orders:read'] })).toMatchObject({
      sensitive: false,
      spiCat: [],
      expiresAt: null,
      services: [{ purposes: [{ piiCategory: ['orders'], termination: 'on withdrawal', thirdPartyName: concierge.id }] }],
    });
  });

  it('sign the purpose as its version was defined: its lawful basis, notice, language and jurisdiction', async () => {
    const operator = await operatorToken(hub);
    const notice = { noticeUrl: 'https://hub.example/notices/garantie/ch', noticeText: 'Wir nutzen Ihre Kontaktdaten und Bestellungen für die Garantie.' };
    const input = { key: 'warranty', title: 'Warranty', description: 'd', lawfulBasis: 'CONTRACT', dataCategories: ['contact', 'orders'], language: 'de-CH', jurisdiction: 'CH', ...notice };
    const defined = await graphql<any>(hub, 'mutation($i: DefinePurposeInput!) { definePurpose(input: $i) { version lawfulBasis } }', { token: operator, variables: { i: input } });
    expect(defined.data.definePurpose).toEqual({ version: '1', lawfulBasis: 'CONTRACT' });
    const { receipt } = await receiptOf(await giveConsent(hub, alice.accessToken, { purpose: 'warranty' }));
    const claims = decodeJwt(receipt) as any;
    expect(claims).toMatchObject({
      language: 'de-CH',
      jurisdiction: 'CH',
      policyUrl: notice.noticeUrl,
      notice: { url: notice.noticeUrl, sha256: createHash('sha256').update(notice.noticeText).digest('hex') },
      grantee: null,
      services: [{ service: 'Example Shop GmbH', purposes: [{ purpose: 'warranty', purposeVersion: '1', purposeTitle: 'Warranty', lawfulBasis: 'contract', thirdPartyDisclosure: false }] }],
    });
    expect(claims.services[0].purposes[0]).not.toHaveProperty('thirdPartyName');
  });

  it('signs a receipt with the Kantara CR v1.1 fields, verifiable with jose against /receipts/jwks.json, also after a key rotation', async () => {
    const id = await giveConsent(hub, alice.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read', 'contact.email:read'] });
    const { receipt } = await receiptOf(id);
    expect(decodeProtectedHeader(receipt)).toMatchObject({ alg: 'ES256', typ: 'consent-receipt+jwt' });
    const { payload } = await jwtVerify(receipt, createLocalJWKSet(await jwks()), { issuer: hub.config.issuer, typ: 'consent-receipt+jwt', currentDate: clock.now() });
    expect(payload).toMatchObject({
      version: 'KI-CR-v1.1.0',
      consentReceiptID: id,
      piiPrincipalId: alice.id,
      jurisdiction: 'EU',
      language: 'en',
      collectionMethod: 'self_service',
      policyUrl: 'https://hub.example/notices/support/1',
      piiControllers: [
        {
          piiController: 'Example Shop GmbH',
          contact: 'Data Protection Officer',
          address: { streetAddress: 'Hauptstraße 1', postalCode: '10115', addressLocality: 'Berlin', addressCountry: 'DE' },
          email: 'privacy@shop.example',
          phone: '+49 30 1234567',
          piiControllerUrl: hub.config.issuer,
        },
      ],
      notice: { sha256: expect.stringMatching(/^[0-9a-f]{64}$/) },
      grantee: { agentId: assistant.id, actorChain: [assistant.id] },
      services: [{ service: assistant.id, purposes: [{ purpose: 'support', purposeVersion: '1', lawfulBasis: 'consent', piiCategory: ['orders', 'contact.email'], thirdPartyDisclosure: true }] }],
    });

    // Rotate, and move past the retention window of access tokens: the old key still verifies the receipt.
    await rotateSigningKey(hub.database.db, resolveKeyEncryptionKey(hub.config), clock.now());
    clock.advance(30 * 86_400);
    await hub.services.keys.reload();
    const kids = (await jwks()).keys.map((k) => k.kid);
    expect(kids).toHaveLength(2);
    // /jwks.json verifies tokens, and no longer offers a key the hub does not accept.
    expect((await jwks('/jwks.json')).keys.map((k) => k.kid)).toEqual(kids.filter((kid) => kid !== decodeProtectedHeader(receipt).kid));
    await hub.listen();
    try {
      const remote = createRemoteJWKSet(new URL(`http://${hub.config.host}:${(hub.http.server.address() as { port: number }).port}/receipts/jwks.json`));
      await expect(jwtVerify(receipt, remote, { typ: 'consent-receipt+jwt', currentDate: clock.now() })).resolves.toBeTruthy();
    } finally {
      await hub.http.server.close();
    }
    // An access token signed with the old key is not accepted for all that.
    const { kid: oldKid } = decodeProtectedHeader(receipt);
    expect(await hub.services.keys.verificationKey(oldKid!)).toBeUndefined();
  });

  it('hash a notice whose text the API shows, the newest in purposes and the one consented to in the consent', async () => {
    const operator = await operatorToken(hub);
    const frank = await signUpUser(hub);
    expect(await definePurpose(hub, operator, 'recipes', ['preferences'])).toBe('1');
    const id = await giveConsent(hub, frank.accessToken, { purpose: 'recipes' });
    expect(await definePurpose(hub, operator, 'recipes', ['preferences', 'orders'])).toBe('2');
    const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

    const newest = (await graphql<any>(hub, '{ purposes { key noticeText noticeSha256 } }')).data.purposes.find((p: any) => p.key === 'recipes');
    expect(newest).toEqual({ key: 'recipes', noticeText: 'We use preferences, orders.', noticeSha256: sha256('We use preferences, orders.') });
    const consent = (await graphql<any>(hub, 'query($id: ID!) { consent(id: $id) { receipt purpose { version noticeText } } }', { token: frank.accessToken, variables: { id } })).data.consent;
    expect(consent.purpose).toEqual({ version: '1', noticeText: 'We use preferences.' });
    expect((decodeJwt(consent.receipt) as any).notice.sha256).toBe(sha256(consent.purpose.noticeText));
  });

  it('lists the consent’s history', async () => {
    alice = await signUpUser(hub); // the first one's token has expired on the moved clock
    const id = await giveConsent(hub, alice.accessToken, { purpose: 'personalization' });
    await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: alice.accessToken, variables: { id } });
    expect((await receiptOf(id)).history).toEqual([
      { kind: 'given', actorKind: 'user', reason: null },
      { kind: 'withdrawn', actorKind: 'user', reason: 'withdrawn' },
    ]);
  });
});

describe('withdrawal receipts', () => {
  const CONSENT = 'query($id: ID!) { consent(id: $id) { status receipt withdrawnAt withdrawalReceipt history { kind occurredAt reason receipt } } }';
  const consentOf = async (token: string, id: string) => (await graphql<any>(hub, CONSENT, { token, variables: { id } })).data.consent;
  const verified = async (receipt: string) =>
    (await jwtVerify(receipt, createLocalJWKSet(await jwks()), { issuer: hub.config.issuer, typ: 'consent-receipt+jwt', currentDate: clock.now() })).payload;
  const seconds = (at: Date) => Math.floor(at.getTime() / 1_000);

  it('signs a withdrawal as a receipt verifiable with jose against /receipts/jwks.json, naming the consent, when and how it was withdrawn, and lists it in the history', async () => {
    const carol = await signUpUser(hub);
    const id = await giveConsent(hub, carol.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
    const givenAt = clock.now();
    clock.advance(90);
    const withdrawn = await graphql<any>(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { withdrawnAt withdrawalReceipt } }', { token: carol.accessToken, variables: { id } });
    const consent = await consentOf(carol.accessToken, id);
    expect(withdrawn.data.withdrawConsent).toEqual({ withdrawnAt: clock.now().toISOString(), withdrawalReceipt: consent.withdrawalReceipt });

    expect(decodeProtectedHeader(consent.withdrawalReceipt)).toMatchObject({ alg: 'ES256', typ: 'consent-receipt+jwt' });
    expect(await verified(consent.withdrawalReceipt)).toMatchObject({
      version: 'KI-CR-v1.1.0',
      iss: hub.config.issuer,
      sub: carol.id,
      jti: `${id}.withdrawn`,
      iat: seconds(clock.now()),
      consentReceiptID: id,
      piiPrincipalId: carol.id,
      consentTimestamp: seconds(givenAt),
      consentStatus: 'withdrawn',
      withdrawnAt: seconds(clock.now()),
      withdrawnBy: { kind: 'user', id: carol.id },
      withdrawalReason: 'withdrawn',
      grantee: { agentId: assistant.id, actorChain: [assistant.id] },
      services: [{ service: assistant.id, purposes: [{ purpose: 'support', purposeVersion: '1', scopes: ['orders:read'], thirdPartyDisclosure: true }] }],
    });
    await hub.services.audit.flush();
    const audited = await hub.services.db.selectFrom('audit_events').select(['actor_kind', 'detail']).where('consent_id', '=', id).where('action', '=', 'consent.withdrawn').execute();
    expect(audited).toEqual([{ actor_kind: 'user', detail: { reason: 'withdrawn' } }]);
    // The consent's own receipt stays the record as given.
    expect(await verified(consent.receipt)).toMatchObject({ jti: id, consentReceiptID: id, consentStatus: 'active', withdrawnAt: null, withdrawnBy: null, withdrawalReason: null });
    expect(consent.history).toEqual([
      { kind: 'given', occurredAt: givenAt.toISOString(), reason: null, receipt: consent.receipt },
      { kind: 'withdrawn', occurredAt: clock.now().toISOString(), reason: 'withdrawn', receipt: consent.withdrawalReceipt },
    ]);
  });

  it('gives a consent replaced by a new one for its purpose a withdrawal receipt, under the purpose version it was given under', async () => {
    const operator = await operatorToken(hub);
    const dave = await signUpUser(hub);
    expect(await definePurpose(hub, operator, 'wishlist', ['preferences'])).toBe('1');
    const replaced = await giveConsent(hub, dave.accessToken, { purpose: 'wishlist' });
    expect(await definePurpose(hub, operator, 'wishlist', ['preferences', 'orders'])).toBe('2');
    clock.advance(60);
    const replacing = await giveConsent(hub, dave.accessToken, { purpose: 'wishlist' });

    const old = await consentOf(dave.accessToken, replaced);
    expect(old).toMatchObject({ status: 'WITHDRAWN', withdrawnAt: clock.now().toISOString(), withdrawalReceipt: expect.any(String) });
    expect(await verified(old.withdrawalReceipt)).toMatchObject({
      consentReceiptID: replaced,
      piiPrincipalId: dave.id,
      consentStatus: 'withdrawn',
      withdrawnAt: seconds(clock.now()),
      withdrawnBy: { kind: 'user', id: dave.id },
      withdrawalReason: 'superseded by a new consent',
      grantee: null,
      // A consent to the company: the service is the controller's.
      services: [{ service: 'Example Shop GmbH', purposes: [{ purpose: 'wishlist', purposeVersion: '1', piiCategory: ['preferences'] }] }],
    });
    expect(old.history.map((e: any) => [e.kind, e.reason, e.receipt])).toEqual([
      ['given', null, old.receipt],
      ['withdrawn', 'superseded by a new consent', old.withdrawalReceipt],
    ]);
    const current = await consentOf(dave.accessToken, replacing);
    expect(current).toMatchObject({ status: 'ACTIVE', withdrawalReceipt: null });
    expect(await verified(current.receipt)).toMatchObject({ consentStatus: 'active', services: [{ purposes: [{ purpose: 'wishlist', purposeVersion: '2' }] }] });
  });

  it('never dates a withdrawal, nor the consent replacing one, before the consent it ends, on an instance whose clock is behind', async () => {
    const gina = await signUpUser(hub);
    const first = await giveConsent(hub, gina.accessToken, { purpose: 'personalization' });
    const firstGiven = await verified((await consentOf(gina.accessToken, first)).receipt);
    // The next requests reach another instance, whose clock is 30 s behind (within CLOCK_SKEW_MS).
    clock.advance(-30);
    try {
      const second = await giveConsent(hub, gina.accessToken, { purpose: 'personalization' });
      const replaced = await consentOf(gina.accessToken, first);
      const replacedEnd = await verified(replaced.withdrawalReceipt);
      const secondGiven = await verified((await consentOf(gina.accessToken, second)).receipt);
      expect(replacedEnd.withdrawnAt).toBeGreaterThanOrEqual(firstGiven.consentTimestamp as number);
      expect(replaced.history.map((e: any) => e.occurredAt)).toEqual([...replaced.history.map((e: any) => e.occurredAt)].sort());
      expect(secondGiven.consentTimestamp).toBeGreaterThanOrEqual(replacedEnd.withdrawnAt as number);

      clock.advance(-20);
      await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: gina.accessToken, variables: { id: second } });
      const withdrawn = await consentOf(gina.accessToken, second);
      expect((await verified(withdrawn.withdrawalReceipt)).withdrawnAt).toBeGreaterThanOrEqual(secondGiven.consentTimestamp as number);
      expect(withdrawn.history.map((e: any) => e.occurredAt)).toEqual([...withdrawn.history.map((e: any) => e.occurredAt)].sort());
    } finally {
      clock.advance(50);
    }
  });

  it('never dates a consent before the withdrawal of the one it follows, recorded by an instance whose clock is ahead', async () => {
    const hana = await signUpUser(hub);
    const first = await giveConsent(hub, hana.accessToken, { purpose: 'personalization' });
    // Withdrawn through an instance whose clock is 30 s ahead (within CLOCK_SKEW_MS)…
    clock.advance(30);
    await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: hana.accessToken, variables: { id: first } });
    const ended = await verified((await consentOf(hana.accessToken, first)).withdrawalReceipt);
    // …and given again through one that is not.
    clock.advance(-30);
    const second = await giveConsent(hub, hana.accessToken, { purpose: 'personalization' });
    const given = await verified((await consentOf(hana.accessToken, second)).receipt);
    expect(given.consentTimestamp).toBeGreaterThanOrEqual(ended.withdrawnAt as number);
  });

  it('signs the withdrawals of a decommissioning, naming the agent and its chain as the consent’s own receipt does', async () => {
    const operator = await operatorToken(hub);
    const parent = await registerAgent(hub, operator, { name: 'Parent', allowedScopes: ['orders:read'] });
    const child = await registerAgent(hub, operator, { name: 'Child', allowedScopes: ['orders:read'], parentAgentId: parent.id });
    const erin = await signUpUser(hub);
    const id = await giveConsent(hub, erin.accessToken, { purpose: 'support', agentId: child.id, scopes: ['orders:read'] });
    clock.advance(60);
    const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: operator, variables: { id: parent.id } });
    expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');

    const consent = await consentOf(erin.accessToken, id);
    const given = await verified(consent.receipt);
    expect(given.grantee).toEqual({ agentId: child.id, actorChain: [child.id, parent.id] });
    expect(await verified(consent.withdrawalReceipt)).toMatchObject({
      consentReceiptID: id,
      consentStatus: 'withdrawn',
      withdrawnAt: seconds(clock.now()),
      withdrawnBy: { kind: 'client', id: expect.stringMatching(/^agt_/) },
      withdrawalReason: 'agent decommissioned',
      grantee: given.grantee,
      services: given.services,
    });
    expect(consent.history.map((e: any) => [e.kind, e.reason, e.receipt])).toEqual([
      ['given', null, consent.receipt],
      ['withdrawn', 'agent decommissioned', consent.withdrawalReceipt],
    ]);
  });

  it('names in each withdrawal receipt of one decommissioning the purpose its own consent was given for', async () => {
    const operator = await operatorToken(hub);
    const helper = await registerAgent(hub, operator, { name: 'Helper', allowedScopes: ['orders:read'] });
    const ivan = await signUpUser(hub);
    const given = { support: '', personalization: '' };
    for (const purpose of ['support', 'personalization'] as const) given[purpose] = await giveConsent(hub, ivan.accessToken, { purpose, agentId: helper.id, scopes: ['orders:read'] });
    clock.advance(60);
    const decommissioned = await graphql<any>(hub, 'mutation($id: ID!) { decommissionAgent(id: $id) { status } }', { token: operator, variables: { id: helper.id } });
    expect(decommissioned.data.decommissionAgent.status).toBe('DECOMMISSIONED');

    for (const [purpose, id] of Object.entries(given)) {
      const consent = await consentOf(ivan.accessToken, id);
      const asGiven = await verified(consent.receipt);
      expect((asGiven as any).services[0].purposes[0].purpose).toBe(purpose);
      expect(await verified(consent.withdrawalReceipt)).toMatchObject({
        consentReceiptID: id,
        consentStatus: 'withdrawn',
        withdrawalReason: 'agent decommissioned',
        policyUrl: asGiven.policyUrl,
        notice: asGiven.notice,
        services: asGiven.services,
      });
    }
  });
});

describe('self-service', () => {
  it('shows the user their consents and connected agents, and withdraws from there', async () => {
    const bob = await signUpUser(hub);
    const id = await giveConsent(hub, bob.accessToken, { purpose: 'support', agentId: assistant.id, scopes: ['orders:read'] });
    const query = '{ me { consents { id status } connectedAgents { agent { id } consent { id } purpose { key } scopes since lastUsedAt } } }';
    const before = await graphql<any>(hub, query, { token: bob.accessToken });
    expect(before.data.me.consents).toEqual([{ id, status: 'ACTIVE' }]);
    expect(before.data.me.connectedAgents).toEqual([{ agent: { id: assistant.id }, consent: { id }, purpose: { key: 'support' }, scopes: ['orders:read'], since: clock.now().toISOString(), lastUsedAt: null }]);
    const consentId = before.data.me.connectedAgents[0].consent.id;
    await graphql(hub, 'mutation($id: ID!) { withdrawConsent(id: $id) { id } }', { token: bob.accessToken, variables: { id: consentId } });
    const after = await graphql<any>(hub, query, { token: bob.accessToken });
    expect(after.data.me).toMatchObject({ consents: [{ id, status: 'WITHDRAWN' }], connectedAgents: [] });
  });
});
