import { describe, expect, it } from 'vitest';
import { GraphQLEnumType, GraphQLError, GraphQLID, GraphQLInputObjectType, GraphQLList, GraphQLInt, GraphQLNonNull, GraphQLObjectType, GraphQLSchema, execute, parse } from 'graphql';
import { formatError, isUnexpectedError } from '../../src/http/format-error.js';
import { withoutQuotedValue } from '../../src/http/variable-refusals.js';
import { HubError } from '../../src/shared/errors.js';

/** The error as Apollo hands it to formatError: with `INTERNAL_SERVER_ERROR` when it has no code. */
const asApolloFormats = (error: GraphQLError) => ({ ...error.toJSON(), extensions: { ...error.extensions, code: error.extensions.code ?? 'INTERNAL_SERVER_ERROR' } });

describe('isUnexpectedError', () => {
  it.each([
    ['an execution error of no code and no path', new GraphQLError('Schema is not configured to execute subscription operation.')],
    ['a field error of no code', new GraphQLError('Cannot return null for non-nullable field Query.me.', { path: ['me'] })],
  ])('is true for %s, which formatError masks, so that it is logged', (_, error) => {
    expect(formatError(asApolloFormats(error), error)).toEqual(expect.objectContaining({ message: 'Internal server error', extensions: { code: 'INTERNAL_SERVER_ERROR' } }));
    expect(isUnexpectedError(error)).toBe(true);
  });

  it.each([
    ['a HubError', new HubError('BAD_USER_INPUT', 'Subscriptions are not supported')],
    ['a request error with a code', new GraphQLError('Syntax Error: Expected Name, found <EOF>.', { extensions: { code: 'GRAPHQL_PARSE_FAILED' } })],
    ['a refusal of no code with a 4xx status', new GraphQLError('Provided sha does not match query', { extensions: { http: { status: 400 } } })],
  ])('is false for %s, which formatError answers', (_, error) => {
    expect(formatError(asApolloFormats(error), error).extensions?.code).not.toBe('INTERNAL_SERVER_ERROR');
    expect(isUnexpectedError(error)).toBe(false);
  });

  it('is true for anything not a GraphQLError', () => {
    expect(isUnexpectedError(new Error('relation "secret_table" does not exist'))).toBe(true);
  });
});

describe('formatError', () => {
  it("answers graphql-js's refusal of a null argument, which validation lets through, as the client's mistake", async () => {
    const query = new GraphQLObjectType({ name: 'Query', fields: { f: { type: GraphQLInt, args: { id: { type: new GraphQLNonNull(GraphQLID) } }, resolve: () => 1 } } });
    // A variable with a default may stand where the argument is non-null (GraphQL spec §5.8.5); null is refused as the field runs.
    const result = await execute({ schema: new GraphQLSchema({ query }), document: parse('query($id: ID = "x") { f(id: $id) }'), variableValues: { id: null } });
    const error = result.errors![0]!;
    expect(formatError(asApolloFormats(error), error)).toEqual({
      message: 'Argument "id" of non-null type "ID!" must not be null.',
      locations: [{ line: 1, column: 30 }],
      path: ['f'],
      extensions: { code: 'BAD_USER_INPUT' },
    });
    expect(isUnexpectedError(error)).toBe(false);
  });
});

describe('withoutQuotedValue', () => {
  it('takes out the part of a variable quoted at a path in lists and inputs', () => {
    const variables = { items: [{ card: { number: '4111 1111 1111 1111' } }, { card: 'x' }] };
    expect(withoutQuotedValue('Variable "$items" got invalid value "x" at "items[1].card"; Expected type "CardInput" to be an object.', variables)).toBe(
      'Variable "$items" got invalid value at "items[1].card"; Expected type "CardInput" to be an object.',
    );
  });

  it('keeps only its first words when the quote is not found', () => {
    expect(withoutQuotedValue('Variable "$input" got invalid value { password: "p" }; Field "x" is not defined by type "T".', {})).toBe('Variable "$input" got invalid value');
  });

  it('answers by the type at the path when the type’s reason repeats the value, and keeps a reason that does not', () => {
    const Role = new GraphQLEnumType({ name: 'Role', values: { ADMIN: {}, MEMBER: {} } });
    const Grant = new GraphQLInputObjectType({ name: 'Grant', fields: { roles: { type: new GraphQLList(Role) } } });
    const refusal = (value: string, reason: string) => `Variable "$g" got invalid value "${value}" at "g.roles[0]"; ${reason}`;
    expect(withoutQuotedValue(refusal('OWNER', 'Value "OWNER" does not exist in "Role" enum.'), { g: { roles: ['OWNER'] } }, Grant)).toBe(
      'Variable "$g" got invalid value at "g.roles[0]"; Expected type "Role".',
    );
    // Not a word of its own in `Expected`: the reason stays.
    expect(withoutQuotedValue(refusal('x', 'Expected type "Role" to be an x-ray.'), { g: { roles: ['x'] } }, Grant)).toBe(
      'Variable "$g" got invalid value at "g.roles[0]"; Expected type "Role" to be an x-ray.',
    );
  });
});
