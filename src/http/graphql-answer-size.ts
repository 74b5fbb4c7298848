import type { ApolloServerPlugin } from '@apollo/server';
import type { Context } from '../graphql/context.js';

/**
 * The most characters of JSON one GraphQL answer may hold (up to three bytes each once sent as
 * UTF-8). The cost limit counts values, not their size: 20,000 values of a text of 2,000
 * characters (an agent's description, which a user writes) repeated through aliases and the
 * graph's cycles (`connectedAgents { consent { user { connectedAgents … } } }`) would make an
 * answer of 50 MB from a query of 300 bytes, and a few at once would exhaust the heap. The errors
 * count too: each one's `path` repeats every alias above the field it names, so an alias of 10,000
 * characters over 8,000 refused fields is 80 MB of errors from a query of 10 KB. A page of the
 * largest lists with every field is far below this.
 */
export const MAX_ANSWER_CHARACTERS = 4 * 1024 * 1024;

/**
 * Refuses to send an answer whose data and errors would be more than MAX_ANSWER_CHARACTERS of JSON:
 * measured before it is serialized (the values it holds are mostly shared with the loaders and the
 * document, and what it would cost is the serialization), counting stopped once past the bound.
 * The data is replaced by `null` and the errors by one `BAD_USER_INPUT` error; a mutation's changes
 * stand, only its answer is not sent.
 */
export function boundedAnswerSize(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async willSendResponse({ response }) {
          if (response.body.kind !== 'single') return;
          const { data, errors } = response.body.singleResult;
          if (!jsonLonger([data ?? null, errors ?? null], MAX_ANSWER_CHARACTERS)) return;
          response.body.singleResult = {
            data: null,
            errors: [
              {
                message: `The answer would be larger than ${MAX_ANSWER_CHARACTERS / 1024 / 1024} MiB of JSON and was not sent (a mutation's changes stand): ask for fewer fields, aliases or smaller pages`,
                extensions: { code: 'BAD_USER_INPUT' },
              },
            ],
          };
        },
      };
    },
  };
}

/**
 * Whether `value` (what graphql-js answers: objects, arrays, strings, numbers, booleans, null)
 * written as JSON would be longer than `bound` characters; a string counts its characters and
 * quotes, escapes aside, a number or literal 8, a key its length, quotes and colon. Walks no
 * further than the bound.
 */
export function jsonLonger(value: unknown, bound: number): boolean {
  let left = bound;
  const pending: unknown[] = [value];
  while (pending.length > 0) {
    const next = pending.pop();
    if (typeof next === 'string') left -= next.length + 2;
    else if (next === null || typeof next !== 'object') left -= 8;
    else if (Array.isArray(next)) {
      left -= next.length + 1;
      for (const item of next) pending.push(item);
    } else {
      for (const key in next) {
        left -= key.length + 4;
        pending.push((next as Record<string, unknown>)[key]);
      }
    }
    if (left < 0) return true;
  }
  return false;
}
