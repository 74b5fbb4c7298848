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

/** Longest path to an unstorable string the refusal names; past it (keys as long as the body allows), it names none. */
const MAX_NAMED_PATH = 200;

/**
 * PostgreSQL text cannot hold U+0000, nor UTF-16 surrogates without their pair (JSON can carry
 * both as escapes), so a string carrying one would fail at the database as an internal error or
 * be stored as another string than the one given; it is refused up front as bad input, in the
 * document and in the variables (naming the variable and where in it the string lies). Variables
 * nested past MAX_VARIABLES_DEPTH are refused first.
 */
export function refuseUnstorableText(): ApolloServerPlugin<Context> {
  // Apollo reuses the parsed document of a query it has seen: its answer is kept per document.
  const documents = new WeakMap<DocumentNode, boolean>();
  const storableDocument = (document: DocumentNode) => {
    let answer = documents.get(document);
    if (answer === undefined) {
      answer = true;
      visit(document, { StringValue: (node) => void (answer &&= isStorableText(node.value)) });
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
          const unstorable = (where?: string) => new HubError('BAD_USER_INPUT', where ? `${where}: strings may not contain U+0000 or unpaired surrogates` : 'Strings may not contain U+0000 or unpaired surrogates', { http: { status: 400 } });
          if (!storableDocument(document)) throw unstorable();
          for (const [name, value] of Object.entries(request.variables ?? {})) {
            if (!isStorableText(name)) throw unstorable();
            const at = unstorableAt(value, name);
            // Named as GraphQL names a variable it cannot coerce, so a client finds the string among many.
            if (at !== undefined) throw unstorable(at.length <= MAX_NAMED_PATH ? `Variable "$${name}" at "${at}"` : undefined);
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

/**
 * Where in `value`, found at `path`, the first string PostgreSQL cannot store as given lies
 * (`input.tags[1]`; for a key, the object holding it), in GraphQL's notation; undefined for none.
 */
function unstorableAt(value: unknown, path: string): string | undefined {
  if (typeof value === 'string') return isStorableText(value) ? undefined : path;
  if (value === null || typeof value !== 'object') return undefined;
  if (Array.isArray(value)) {
    for (const [i, inner] of value.entries()) {
      const at = unstorableAt(inner, `${path}[${i}]`);
      if (at !== undefined) return at;
    }
    return undefined;
  }
  for (const [key, inner] of Object.entries(value)) {
    if (!isStorableText(key)) return path;
    const at = unstorableAt(inner, `${path}.${key}`);
    if (at !== undefined) return at;
  }
  return undefined;
}
