import { createContextCache } from '@pothos/core';
import DataLoader from 'dataloader';
import type { Context } from '../graphql/context.js';
import { findApprovalsByIds, findApprovalsOfUsers, type Approval, type ApprovalStateFilter } from './approval.queries.js';

/** Approvals by id, one query per request tick; unknown ids load as null. */
export const approvalLoader = createContextCache(
  (ctx: Context) =>
    new DataLoader<string, Approval | null>(async (ids) => {
      const approvals = new Map((await findApprovalsByIds(ctx.services.db, ids)).map((a) => [a.id, a]));
      return ids.map((id) => approvals.get(id) ?? null);
    }),
);

/**
 * The newest approvals of each user, one loader per list shape (state and size), so a list of
 * users costs one statement per shape. States are those at the first load of the request.
 */
export const approvalsOfUserLoader = createContextCache((ctx: Context) => {
  const now = ctx.services.clock.now();
  const byShape = new Map<string, DataLoader<string, Approval[]>>();
  return (limit: number, state: ApprovalStateFilter | undefined): DataLoader<string, Approval[]> => {
    const shape = `${limit}|${state ?? ''}`;
    let loader = byShape.get(shape);
    if (!loader) {
      loader = new DataLoader(async (userIds) => {
        const all = await findApprovalsOfUsers(ctx.services.db, userIds, { limit, now, ...(state && { state }) });
        return userIds.map((id) => all.filter((a) => a.userId === id));
      });
      byShape.set(shape, loader);
    }
    return loader;
  };
});
