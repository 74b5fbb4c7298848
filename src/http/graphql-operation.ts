import type { ApolloServerPlugin } from '@apollo/server';
import { getDirectiveValues, GraphQLIncludeDirective, GraphQLSkipDirective, Kind, type DocumentNode, type SelectionNode, type SelectionSetNode } from 'graphql';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';
import { boundEcho } from './format-error.js';

/**
 * Refuses, before anything runs, as the client's mistake (400, `BAD_USER_INPUT`), a request whose
 * operation the hub cannot run:
 * - one its document does not hold by the name it gives (or, naming none, among several): Apollo
 *   resolves no operation then and skips what it checks of one (a GET is for queries only), while
 *   graphql-js would still run a document's only operation, unmeasured by the page cost, which
 *   is counted per resolved operation;
 * - a `subscription`: the schema has no subscription root and the hub no transport for one, and
 *   graphql-js would fail it with an error of no code, which Apollo counts as internal;
 * - a mutation that would check more than one password (`PASSWORD_CHECKS`): each is an Argon2id hash
 *   (19 MiB, tens of ms of a core), and the sign-in throttle counts failures only, so 15 aliased
 *   `signIn` with a right password were 15 hashes for one request of the rate limit's.
 */
export function runnableOperation(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ operation, request, document }) {
          if (!operation) {
            // The name is the client's, whatever its length: cut short as every refused value is.
            const message = request.operationName ? boundEcho(`Unknown operation named "${request.operationName}".`) : 'Must provide operation name if query contains multiple operations.';
            throw new HubError('BAD_USER_INPUT', message, { http: { status: 400 } });
          }
          if (operation.operation === 'subscription') throw new HubError('BAD_USER_INPUT', 'Subscriptions are not supported', { http: { status: 400 } });
          if (operation.operation === 'mutation' && rootFields(operation.selectionSet, document, request.variables ?? {}).filter((name) => PASSWORD_CHECKS.has(name)).length > 1) {
            throw new HubError('BAD_USER_INPUT', 'A request may check one password at most: send signIn, signUp and changePassword one to a request', { http: { status: 400 } });
          }
        },
      };
    },
  };
}

/** The mutations that hash or check a password. */
const PASSWORD_CHECKS = new Set(['signIn', 'signUp', 'changePassword']);

/**
 * The names of the fields a selection set selects at its own level, through its fragments, as
 * `@skip` and `@include` leave them with these variables (one they cannot be read from counts).
 */
function rootFields(selectionSet: SelectionSetNode, document: DocumentNode, variables: Record<string, unknown>): string[] {
  return selectionSet.selections.flatMap((selection) => {
    if (!runs(selection, variables)) return [];
    if (selection.kind === Kind.FIELD) return [selection.name.value];
    if (selection.kind === Kind.INLINE_FRAGMENT) return rootFields(selection.selectionSet, document, variables);
    const fragment = document.definitions.find((definition) => definition.kind === Kind.FRAGMENT_DEFINITION && definition.name.value === selection.name.value);
    return fragment?.kind === Kind.FRAGMENT_DEFINITION ? rootFields(fragment.selectionSet, document, variables) : [];
  });
}

/** False when `@skip(if: true)` or `@include(if: false)` leaves the selection out; true when they cannot be read. */
function runs(selection: SelectionNode, variables: Record<string, unknown>): boolean {
  try {
    return getDirectiveValues(GraphQLSkipDirective, selection, variables)?.if !== true && getDirectiveValues(GraphQLIncludeDirective, selection, variables)?.if !== false;
  } catch {
    return true;
  }
}
