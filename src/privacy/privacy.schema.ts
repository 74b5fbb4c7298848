import { auditCaller } from '../audit/audit.service.js';
import { builder } from '../graphql/builder.js';
import type { Context } from '../graphql/context.js';
import { userLoader } from '../identity/user.loaders.js';
import { ForbiddenError } from '../shared/errors.js';
import { isId } from '../shared/ids.js';
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
    unauthorizedResolver: async (_root, args, ctx, _info, error) => {
      await recordRefusedErasure(ctx, String(args.id), error);
      throw error;
    },
    resolve: async (_root, args, ctx) => {
      const result = await ctx.services.erasure.erase(String(args.id), ctx);
      userLoader(ctx).clear(result.userId);
      return result;
    },
  }),
);

/**
 * A refused erasure goes into the audit trail of the person it was asked for, as `user.erased`
 * denied with the reason the caller was given, so the person and their auditors see who tried,
 * as for a refused export. An anonymous caller names no one to record; an id that names no one,
 * or an erased person, opens no chain. Recorded before the refusal is answered.
 */
async function recordRefusedErasure(ctx: Context, userId: string, error: Error): Promise<void> {
  if (ctx.principal.kind === 'anonymous' || !isId('usr', userId)) return;
  const user = await userLoader(ctx).load(userId);
  if (!user) return;
  ctx.services.audit.record({
    action: 'user.erased',
    ...auditCaller(ctx.principal, ctx.requestId),
    subjectUserId: user.id,
    decision: 'DENY',
    // Past an anonymous caller, the one refusal that is not FORBIDDEN is a sign-in too long ago (UNAUTHENTICATED).
    reason: error instanceof ForbiddenError ? error.reason : 'REAUTHENTICATE',
  });
}
