import { GraphQLError } from 'graphql';
import { describe, expect, it } from 'vitest';
import { LeftOutError, MAX_CLIENT_ERRORS } from '../../src/graphql/error-budget.js';
import { boundedErrors } from '../../src/http/graphql-errors.js';
import { ForbiddenError } from '../../src/shared/errors.js';

const refusal = (i: number) => Object.assign(new ForbiddenError('MISSING_SCOPE'), { path: ['users', i, 'status'] });
const failure = new GraphQLError('connection terminated', { path: ['users', 500, 'orders'], originalError: new Error('connection terminated') });

describe('the errors an answer carries', () => {
  it('are all of them, up to the most', () => {
    const errors = Array.from({ length: MAX_CLIENT_ERRORS }, (_, i) => refusal(i));
    expect(boundedErrors(errors)).toEqual(errors);
  });

  it('past the most, are the first ones, the hub’s own failures, and one saying how many were left out', () => {
    const errors = [...Array.from({ length: 500 }, (_, i) => refusal(i)), failure, ...Array.from({ length: 400 }, () => new LeftOutError())];
    const bounded = boundedErrors(errors);
    expect(bounded).toHaveLength(MAX_CLIENT_ERRORS + 2);
    expect(bounded.slice(0, MAX_CLIENT_ERRORS)).toEqual(errors.slice(0, MAX_CLIENT_ERRORS));
    expect(bounded[MAX_CLIENT_ERRORS]).toBe(failure);
    expect(bounded.at(-1)).toMatchObject({ message: `800 more errors were left out: an answer carries at most ${MAX_CLIENT_ERRORS} (the fields they were about are null all the same)`, extensions: { code: 'BAD_USER_INPUT' } });
  });

  it('are made what Apollo expects only when they are answered', () => {
    let normalized = 0;
    const errors = [...Array.from({ length: 300 }, () => new GraphQLError('refused', { originalError: new LeftOutError() })), refusal(0)];
    const bounded = boundedErrors(errors, (error) => (normalized++, error));
    expect(normalized).toBe(1);
    expect(bounded).toHaveLength(2);
  });
});
