import type { ApolloServerPlugin } from '@apollo/server';
import { visit, type DocumentNode } from 'graphql';
import type { Context } from '../graphql/context.js';
import { HubError } from '../shared/errors.js';
import { isStorableText } from '../shared/input.js';

/**
 * Deepest nesting of lists and objects accepted in the variables: far past any input type of the
 * schema (no input is free-form JSON), and far short of the stack that walking a body of nothing
 * but brackets (65,000 levels within the body limit) would overflow.
 */
export const MAX_VARIABLES_DEPTH = 32;

/**
 * PostgreSQL text cannot hold U+0000, nor UTF-16 surrogates without their pair (JSON can carry
 * both as escapes), so a string carrying one would fail at the database as an internal error or
 * be stored as another string than the one given; it is refused up front as bad input, in the
 * document and in the variables. Variables nested past MAX_VARIABLES_DEPTH are refused first.
 */
export function refuseUnstorableText(): ApolloServerPlugin<Context> {
  // Apollo reuses the parsed document of a query it has seen: its answer is kept per document.
  const documents = new WeakMap<DocumentNode, boolean>();
  const storableDocument = (document: DocumentNode) => {
    let answer = documents.get(document);
    if (answer === undefined) {
      answer = true;
      visit(document, { StringValue: (node) => void (answer &&= storable(node.value)) });
      documents.set(document, answer);
    }
    return answer;
  };
  return {
    async requestDidStart() {
      return {
        async didResolveOperation({ document, request }) {
          if (nestedDeeperThan(request.variables ?? {}, MAX_VARIABLES_DEPTH)) {
            throw new HubError('BAD_USER_INPUT', `Variables may nest lists and objects at most ${MAX_VARIABLES_DEPTH} levels deep`, { http: { status: 400 } });
          }
          if (!storableDocument(document) || !storable(request.variables ?? {})) {
            throw new HubError('BAD_USER_INPUT', 'Strings may not contain U+0000 or unpaired surrogates', { http: { status: 400 } });
          }
        },
      };
    },
  };
}

/** True when lists and objects in `value` nest more than `levels` deep; looks no deeper than that. */
function nestedDeeperThan(value: unknown, levels: number): boolean {
  if (value === null || typeof value !== 'object') return false;
  if (levels === 0) return true;
  return Object.values(value).some((inner) => nestedDeeperThan(inner, levels - 1));
}

/** True when every string in `value` (keys included) is text PostgreSQL can store as given. */
function storable(value: unknown): boolean {
  if (typeof value === 'string') return isStorableText(value);
  if (Array.isArray(value)) return value.every(storable);
  if (value === null || typeof value !== 'object') return true;
  return Object.entries(value).every(([key, inner]) => storable(key) && storable(inner));
}
