import type { ObjectRef } from '@pothos/core';
import type { ConnectionShape } from '../shared/pagination.js';
import { builder } from './builder.js';

/**
 * The four fields the Relay cursor connections specification requires of `PageInfo`, read from
 * the connection itself, whose first edge is `startCursor`. Every list pages forward only
 * (`first`, `after`), for which the specification lets `hasPreviousPage` be false.
 */
const PageInfoRef = builder.objectRef<ConnectionShape<unknown>>('PageInfo').implement({
  description: 'Where a page starts and ends and whether another follows (Relay cursor connections).',
  fields: (t) => ({
    hasNextPage: t.boolean({ resolve: (c) => c.pageInfo.hasNextPage }),
    hasPreviousPage: t.boolean({ description: 'Always false: lists page forward only, with first and after.', resolve: () => false }),
    startCursor: t.string({ nullable: true, description: 'The cursor of the first edge; null when the page has none.', resolve: (c) => c.edges[0]?.cursor ?? null }),
    endCursor: t.string({ nullable: true, resolve: (c) => c.pageInfo.endCursor }),
  }),
});

/**
 * `XConnection { edges { cursor node } pageInfo }` and `XEdge` for a node type. `Extra` is what
 * resolvers add to the page for fields added later (the owner a `totalCount` counts for).
 */
export function connectionRef<T, Extra extends object = object>(name: string, node: ObjectRef<any, T>) {
  const edge = builder.objectRef<{ cursor: string; node: T }>(`${name}Edge`).implement({
    fields: (t) => ({ cursor: t.exposeString('cursor'), node: t.expose('node', { type: node }) }),
  });
  return builder.objectRef<ConnectionShape<T> & Extra>(`${name}Connection`).implement({
    fields: (t) => ({
      edges: t.field({ type: [edge], resolve: (c) => c.edges }),
      pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c }),
    }),
  });
}
