import { createContextCache } from '@pothos/core';
import { GraphQLError } from 'graphql';
import { withoutStack } from '../shared/errors.js';

/**
 * The most errors of the client's own (refused fields, bad cursors: HubErrors) one answer carries,
 * as graphql-js's validation stops at 100. A request reaches thousands of values within its cost
 * (a user's agents read through `consent { user { connectedAgents … } }` under aliases), and can
 * be refused each: some 25 µs of CPU an error, made, formatted, logged for and written, and more
 * than the answer's data. Past these, a field is refused all the same (null, audited), with no
 * error of its own; the answer says how many were left out (see src/http/graphql-errors.ts).
 */
export const MAX_CLIENT_ERRORS = 100;

/**
 * What stands for each client error past MAX_CLIENT_ERRORS: one per request, thrown by every field
 * refused past them, counted and dropped as the operation ends, never answered. Located already
 * (a `path`), so that graphql-js keeps it as it is.
 */
export class LeftOutError extends GraphQLError {
  constructor() {
    super('An error past the most one answer carries', { path: [] });
  }
}

/** How many client errors this request has made, and what stands for the ones past the most. */
const requestErrors = createContextCache((_context: object): { made: number; leftOut?: LeftOutError } => ({ made: 0 }));

/**
 * The error `make` makes, while the request's client errors stay within MAX_CLIENT_ERRORS with the
 * `answers` it is answered as (more than one where a value is read under aliases); past them,
 * without calling it, the request's LeftOutError. Never call it for an error the client is not
 * answered with, which the log must see.
 */
export function withinErrorBudget<E extends GraphQLError>(context: object, make: () => E, answers = 1): E | LeftOutError {
  const errors = requestErrors(context);
  if (errors.made + answers <= MAX_CLIENT_ERRORS) {
    errors.made += answers;
    return make();
  }
  return (errors.leftOut ??= withoutStack(() => new LeftOutError()));
}

/** Whether `error` stands for errors left out: the LeftOutError itself, or graphql-jit's error around it. */
export function isLeftOut(error: GraphQLError): boolean {
  return error instanceof LeftOutError || error.originalError instanceof LeftOutError;
}
