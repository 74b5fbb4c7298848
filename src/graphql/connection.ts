import type { ObjectRef } from '@pothos/core';
import type { ConnectionShape, PageInfoShape } from '../shared/pagination.js';
import { builder } from './builder.js';

export const PageInfoRef = builder.objectRef<PageInfoShape>('PageInfo').implement({
  description: 'Where a page ends and whether another follows (Relay cursor connections).',
  fields: (t) => ({
    hasNextPage: t.exposeBoolean('hasNextPage'),
    endCursor: t.exposeString('endCursor', { nullable: true }),
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
      pageInfo: t.field({ type: PageInfoRef, resolve: (c) => c.pageInfo }),
    }),
  });
}
