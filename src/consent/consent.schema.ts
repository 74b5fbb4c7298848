import { agentLoader } from '../agents/agent.loaders.js';
import { AgentRef } from '../agents/agent.schema.js';
import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { userLoader } from '../identity/user.loaders.js';
import { UserRef } from '../identity/user.schema.js';
import { consentLoader } from './consent.loaders.js';
import { consentState, listPurposes, type Consent } from './consent.service.js';
import type { ConsentHistoryEntry } from './consent.queries.js';
import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import { consentedPurposeLoader, type Purpose } from './purposes.js';

const LawfulBasisEnum = builder.enumType('LawfulBasis', {
  values: ['CONSENT', 'CONTRACT', 'LEGITIMATE_INTEREST', 'LEGAL_OBLIGATION', 'VITAL_INTEREST', 'PUBLIC_TASK'] as const,
});

export const PurposeRef = builder.objectRef<Purpose>('Purpose').implement({
  description: 'Why data is used; a consent is given for one purpose.',
  fields: (t) => ({
    key: t.exposeString('key'),
    title: t.exposeString('title'),
    description: t.exposeString('description'),
    lawfulBasis: t.field({ type: LawfulBasisEnum, resolve: (p) => p.lawfulBasis.toUpperCase() as never }),
    dataCategories: t.exposeStringList('dataCategories', { description: 'Data categories (`contact`) or single fields (`contact.email`) it covers.' }),
    version: t.exposeString('version'),
    noticeUrl: t.exposeString('noticeUrl'),
    noticeText: t.exposeString('noticeText', { description: 'The notice shown to people before they consent, as stored and hashed: what a receipt’s notice.sha256 proves was read.' }),
    noticeSha256: t.exposeString('noticeSha256', { description: 'SHA-256 of the notice text, hex.' }),
    language: t.exposeString('language'),
    jurisdiction: t.exposeString('jurisdiction'),
  }),
});

const ConsentEventRef = builder.objectRef<ConsentHistoryEntry>('ConsentEvent').implement({
  description: 'One entry of a consent’s append-only history.',
  fields: (t) => ({
    kind: t.exposeString('kind', { description: 'given, withdrawn or expired.' }),
    occurredAt: t.expose('occurredAt', { type: 'DateTime' }),
    actorKind: t.string({ resolve: (e) => e.actor.kind }),
    actorId: t.string({ nullable: true, resolve: (e) => e.actor.id }),
    reason: t.string({ nullable: true, resolve: (e) => (typeof e.detail.reason === 'string' ? e.detail.reason : null) }),
    receipt: t.exposeString('receipt', {
      nullable: true,
      description:
        'The signed receipt of this change, a compact JWS in the format of Consent.receipt: for `given` the consent’s own, for `withdrawn` the record as withdrawn (consentStatus withdrawn, withdrawnAt). Null for a withdrawal recorded unsigned.',
    }),
  }),
});

/** The history of each consent, one query per request tick. */
const historyLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, ConsentHistoryEntry[]>(async (ids) => {
      const events = await ctx.services.consents.findHistory(ctx.services.db, ids);
      return ids.map((id) => events.filter((e) => e.consentId === id));
    }),
);

const ConsentStatusEnum = builder.enumType('ConsentStatus', { values: ['ACTIVE', 'WITHDRAWN', 'EXPIRED'] as const });

export const ConsentRef = builder.objectRef<Consent>('Consent').implement({
  description: 'A purpose-bound permission a user gave: to the company, or to one agent (delegation).',
  fields: (t) => ({
    id: t.exposeID('id'),
    user: t.field({ type: UserRef, nullable: true, resolve: (c, _args, ctx) => userLoader(ctx).load(c.userId) }),
    purpose: t.field({ type: PurposeRef, description: 'The purpose in the version the consent was given under.', resolve: (c, _args, ctx) => consentedPurposeLoader(ctx)(c) }),
    agent: t.field({
      type: AgentRef,
      nullable: true,
      description: 'The agent the consent delegates to; null for a consent to the company.',
      resolve: (c, _args, ctx) => (c.agentId ? agentLoader(ctx).load(c.agentId) : null),
    }),
    scopes: t.exposeStringList('scopes'),
    status: t.field({ type: ConsentStatusEnum, description: 'EXPIRED once past expiresAt.', resolve: (c, _args, ctx) => consentState(c, ctx.services.clock.now()) }),
    givenAt: t.expose('givenAt', { type: 'DateTime' }),
    expiresAt: t.expose('expiresAt', { type: 'DateTime', nullable: true }),
    withdrawnAt: t.expose('withdrawnAt', { type: 'DateTime', nullable: true }),
    collectionMethod: t.exposeString('collectionMethod'),
    policyVersion: t.exposeString('policyVersion', { description: 'The version of the purpose the consent was given under.' }),
    receipt: t.exposeString('receipt', {
      nullable: true,
      description: 'The consent receipt (Kantara CR v1.1 / ISO/IEC TS 27560 fields) as a compact JWS, typ consent-receipt+jwt, verifiable against /receipts/jwks.json (every key that ever signed).',
    }),
    withdrawalReceipt: t.string({
      nullable: true,
      description: 'The signed receipt of the withdrawal, as on its `withdrawn` history event; null while the consent is not withdrawn, or for a withdrawal recorded unsigned.',
      resolve: async (c, _args, ctx) => (c.status === 'withdrawn' ? ((await historyLoader(ctx).load(c.id)).find((e) => e.kind === 'withdrawn')?.receipt ?? null) : null),
    }),
    history: t.field({
      type: [ConsentEventRef],
      description: 'The ledger events, oldest first.',
      resolve: async (c, _args, ctx) => (await historyLoader(ctx).load(c.id)).map((e) => (e.kind === 'given' ? { ...e, receipt: c.receipt } : e)),
    }),
  }),
});

const GiveConsentInput = builder.inputType('GiveConsentInput', {
  fields: (t) => ({
    purpose: t.string({ required: true, description: 'The key of a purpose Query.purposes lists: support, personalization, email_marketing, loyalty_offers, checkout, or one an operator defined.' }),
    agentId: t.id({ description: 'The agent the consent delegates to; left out, the consent is to the company.' }),
    scopes: t.stringList({ description: 'Data scopes within the purpose and, for an agent, within its allowed scopes; required for an agent.' }),
    expiresAt: t.field({ type: 'DateTime' }),
    collectionMethod: t.string({ description: 'How the consent was collected (a channel such as web_form, never who collected it: it is signed into the receipts and kept after an erasure); self_service when left out.' }),
    policyVersion: t.string({ description: 'The version of the purpose whose notice the person was shown; refused when another is in force. Left out, the version in force.' }),
  }),
});

const LawfulBasisInput = LawfulBasisEnum;

const DefinePurposeInput = builder.inputType('DefinePurposeInput', {
  fields: (t) => ({
    key: t.string({ required: true }),
    title: t.string({ required: true }),
    description: t.string({ required: true }),
    lawfulBasis: t.field({ type: LawfulBasisInput, required: true }),
    dataCategories: t.stringList({ required: true, description: 'Categories (`contact`) or single fields (`contact.email`).' }),
    noticeUrl: t.string({ required: true }),
    noticeText: t.string({ required: true, description: 'The notice shown to people; its SHA-256 goes into every receipt.' }),
    language: t.string({ description: 'A BCP 47 tag; left out, that of the version before, or en for a new purpose.' }),
    jurisdiction: t.string({ description: 'Left out, that of the version before, or EU for a new purpose.' }),
  }),
});

builder.queryField('purposes', (t) =>
  t.field({
    type: [PurposeRef],
    description: 'The purpose registry: the newest version of every purpose. Public.',
    resolve: (_root, _args, ctx) => listPurposes(ctx.services.db),
  }),
);

const caller = (ctx: Context) => ({ principal: ctx.principal, requestId: ctx.requestId });

builder.queryField('consent', (t) =>
  t.field({
    type: ConsentRef,
    nullable: true,
    description: 'A consent by id: for the user who gave it, or consents:admin.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ consentReader: String(args.id) }),
    resolve: (_root, args, ctx) => consentLoader(ctx).load(String(args.id)),
  }),
);

builder.mutationFields((t) => ({
  giveConsent: t.field({
    type: ConsentRef,
    description:
      'The signed-in user gives a consent; one given before for the same purpose and grantee is replaced. A consent to an agent delegates only scopes the token holds, and one to the company needs a token that reads every category of the purpose (FORBIDDEN/MISSING_SCOPE). A consent to an agent whose allowed scopes hold offline_access (its token exchange then answers a refresh token) needs a sign-in in the last 10 minutes (UNAUTHENTICATED otherwise: sign in again).',
    args: { input: t.arg({ type: GiveConsentInput, required: true }) },
    authScopes: (_root, { input }) => ({ consentGiver: { agentId: input.agentId?.toString() ?? null, scopes: input.agentId ? (input.scopes ?? []) : [] } }),
    resolve: (_root, { input }, ctx) => {
      const principal = ctx.principal as Extract<Context['principal'], { kind: 'user' }>;
      return ctx.services.consents.give(principal.userId, { ...input, agentId: input.agentId?.toString() }, caller(ctx));
    },
  }),
  definePurpose: t.field({
    type: PurposeRef,
    description: 'Adds a purpose, or a new version of one when anything changed. consents:admin.',
    args: { input: t.arg({ type: DefinePurposeInput, required: true }) },
    authScopes: { operator: 'consents:admin' },
    resolve: (_root, { input }, ctx) =>
      ctx.services.purposes.define({ ...input, lawfulBasis: input.lawfulBasis.toLowerCase() }, caller(ctx)),
  }),
  withdrawConsent: t.field({
    type: ConsentRef,
    description: 'Withdraws a consent at once: every token issued under it stops working on the next request.',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ $any: { consentHolder: String(args.id), operator: 'consents:admin' } }),
    resolve: async (_root, args, ctx) => {
      const consent = await ctx.services.consents.withdraw(String(args.id), caller(ctx));
      consentLoader(ctx).clear(consent.id).prime(consent.id, consent);
      historyLoader(ctx).clear(consent.id);
      return consent;
    },
  }),
}));
