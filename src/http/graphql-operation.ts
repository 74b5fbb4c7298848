import type { ApolloServerPlugin } from '@apollo/server';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';

/**
 * Refuses, before anything runs, as the client's mistake (400, `BAD_USER_INPUT`), a request whose
 * operation the hub cannot run:
 * - one its document does not hold by the name it gives (or, naming none, among several): Apollo
 *   resolves no operation then and skips what it checks of one (a GET is for queries only), while
 *   graphql-js would still run a document's only operation, unmeasured by the page cost, which
 *   is counted per resolved operation;
 * - a `subscription`: the schema has no subscription root and the hub no transport for one, and
 *   graphql-js would fail it with an error of no code, which Apollo counts as internal.
 */
export function runnableOperation(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request }) {
          if (!operation) {
            const message = request.operationName ? `Unknown operation named "${request.operationName}".` : 'Must provide operation name if query contains multiple operations.';
            throw new HubError('BAD_USER_INPUT', message, { http: { status: 400 } });
          }
          if (operation.operation === 'subscription') throw new HubError('BAD_USER_INPUT', 'Subscriptions are not supported', { http: { status: 400 } });
        },
      };
    },
  };
}
