import { builder } from '../graphql/builder.js';
import { userLoader } from '../identity/user.loaders.js';
import type { ErasureResult } from './erasure.service.js';

const ErasureResultRef = builder.objectRef<ErasureResult>('ErasureResult').implement({
  description: 'What an erasure did. The user id stays as the pseudonym of the consent ledger and the audit trail.',
  fields: (t) => ({
    userId: t.exposeID('userId'),
    erasedAt: t.expose('erasedAt', { type: 'DateTime', description: 'When the person was erased; the first erasure’s time when alreadyErased.' }),
    alreadyErased: t.exposeBoolean('alreadyErased', { description: 'The user had been erased before: every count is 0 but consentsWithdrawn, the consents still in force that this call withdrew.' }),
    consentsWithdrawn: t.exposeInt('consentsWithdrawn', { description: 'Consents withdrawn, each as a ledger event; their receipts are kept.' }),
    agentsDecommissioned: t.exposeInt('agentsDecommissioned', { description: 'Agents the person owned, decommissioned: they act for nobody now.' }),
    refreshTokensRevoked: t.exposeInt('refreshTokensRevoked', {
      description: 'Refresh tokens still usable that were revoked. Access tokens are not counted: every one of the user’s (their own and every agent’s) is refused from the next request on.',
    }),
    paymentMethodsDeleted: t.exposeInt('paymentMethodsDeleted'),
    approvalsDeleted: t.exposeInt('approvalsDeleted', { description: 'Approvals of payment actions deleted, whatever their state: none can be answered or used after.' }),
    audienceMembershipsRemoved: t.exposeInt('audienceMembershipsRemoved', { description: 'Audiences (one per purpose) the user was a member of and no longer is.' }),
  }),
});

builder.mutationField('eraseUser', (t) =>
  t.field({
    type: ErasureResultRef,
    description:
      'Erases a person (GDPR Art. 17), for users:admin or the user themself, with a session that holds every scope a sign-in grants (FORBIDDEN/MISSING_SCOPE for a narrowed one) and a sign-in in the last 10 minutes (UNAUTHENTICATED otherwise: sign in again): in one transaction every consent is withdrawn, every token stops, the profile, payment methods and approvals of payment actions are removed and the user leaves every audience; the consent ledger and the audit trail stay under the user id alone. Erasing again changes nothing but withdrawing a consent still in force (alreadyErased).',
    args: { id: t.arg.id({ required: true }) },
    authScopes: (_root, args) => ({ $any: { selfErasure: String(args.id), operator: 'users:admin' } }),
    resolve: async (_root, args, ctx) => {
      const result = await ctx.services.erasure.erase(String(args.id), ctx);
      userLoader(ctx).clear(result.userId);
      return result;
    },
  }),
);
