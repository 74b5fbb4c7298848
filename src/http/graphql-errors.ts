import type { GraphQLError } from 'graphql';
import { isLeftOut, MAX_CLIENT_ERRORS } from '../graphql/error-budget.js';
import { HubError } from '../shared/errors.js';
import { isUnexpectedError } from './format-error.js';

/**
 * The errors of an operation as its answer carries them, before Apollo logs, formats and writes
 * each: the first MAX_CLIENT_ERRORS, and past them only those formatError masks (the hub's own
 * failures, which the log and the outage's 503 must see), each made what Apollo expects by
 * `normalize`; then, when any were left out, one more `BAD_USER_INPUT` saying how many. The fields
 * they were about are null all the same.
 */
export function boundedErrors(errors: readonly GraphQLError[], normalize: (error: GraphQLError) => GraphQLError = (error) => error): GraphQLError[] {
  const kept: GraphQLError[] = [];
  let leftOut = 0;
  for (const error of errors) {
    if (isLeftOut(error)) {
      leftOut++;
      continue;
    }
    const answered = normalize(error);
    if (kept.length < MAX_CLIENT_ERRORS || isUnexpectedError(answered)) kept.push(answered);
    else leftOut++;
  }
  if (leftOut > 0) kept.push(new HubError('BAD_USER_INPUT', `${leftOut} more errors were left out: an answer carries at most ${MAX_CLIENT_ERRORS} (the fields they were about are null all the same)`));
  return kept;
}
