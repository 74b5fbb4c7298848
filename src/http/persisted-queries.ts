import { hash } from 'node:crypto';
import type { ApolloServerPlugin, PersistedQueryOptions } from '@apollo/server';
import { LRUCache } from 'lru-cache';
import type { Principal } from '../authz/principal.js';
import type { Context } from '../graphql/context.js';

/** The memory the documents of persisted queries may hold, counted in characters: Apollo's default store's size. */
const PERSISTED_QUERY_CHARACTERS = 30 * 2 ** 20;

/**
 * Apollo's own store of persisted queries, given to it so that it never keeps one: this plugin
 * keeps them. A hash Apollo is asked for is one this plugin did not find, which Apollo answers
 * `PersistedQueryNotFound`, so the client sends the document with it.
 */
export const NO_PERSISTED_QUERIES: Required<PersistedQueryOptions>['cache'] = {
  get: async () => undefined,
  set: async () => {},
  delete: async () => true,
};

/** Whose documents a request reads and registers: the caller, or its address when anonymous. */
function ownerOf(principal: Principal, address: string): string {
  switch (principal.kind) {
    case 'user':
      return `user:${principal.userId}`;
    case 'delegated':
      return `delegated:${principal.clientId}:${principal.userId}`;
    case 'client':
      return `client:${principal.clientId}`;
    case 'anonymous':
      return `address:${address}`;
  }
}

interface PersistedQuery {
  version?: unknown;
  sha256Hash?: unknown;
}

/**
 * Automatic persisted queries (APQ: a client sends a document's SHA-256 alone, and the document
 * with it once told the hash is unknown), kept per caller. Apollo keeps one store for every
 * caller: a hash answered from it tells whoever asks that someone sent that document, literals
 * and all (an operator's `users(filter: { email: "…" })`, a sign-in with its password written in),
 * and runs it for them. Here a document is found only by the caller that sent it (the user, the
 * agent acting for that user, the client, or for an anonymous caller its address), so to anyone
 * else a hash is unknown, as one never sent is. A request Apollo would refuse (another version,
 * a hash that is not its document's) is left to Apollo; one whose document is registered, or
 * found, reaches Apollo as a plain request with its document.
 */
export function callerPersistedQueries(maxCharacters = PERSISTED_QUERY_CHARACTERS): ApolloServerPlugin<Context> {
  const documents = new LRUCache<string, string>({ maxSize: maxCharacters, sizeCalculation: (query, key) => Math.max(1, query.length + key.length) });
  return {
    async requestDidStart({ request, contextValue }) {
      const persisted = request.extensions?.persistedQuery as PersistedQuery | undefined;
      if (!persisted || persisted.version !== 1 || typeof persisted.sha256Hash !== 'string') return;
      const key = `${ownerOf(contextValue.principal, contextValue.address)}\u0000${persisted.sha256Hash}`;
      if (request.query === undefined) {
        const query = documents.get(key);
        if (query === undefined) return;
        request.query = query;
        delete request.extensions!.persistedQuery;
        return;
      }
      const query = request.query;
      if (hash('sha256', query, 'hex') !== persisted.sha256Hash) return;
      delete request.extensions!.persistedQuery;
      // Kept once it is known to run, as Apollo keeps it: a document that does not parse or
      // validate is refused again, not kept.
      return {
        async didResolveOperation() {
          documents.set(key, query);
        },
      };
    },
  };
}
