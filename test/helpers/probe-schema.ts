import { GraphQLInt, GraphQLObjectType, GraphQLSchema, type GraphQLFieldConfigMap } from 'graphql';

/**
 * A schema of its own for probing the HTTP and GraphQL layers: every resolver call is counted,
 * `boom` throws an error with internal detail, `unreachable` the error of a database gone, `slow`
 * answers after `slowMs`, and the mutation
 * `touch` counts a call like any resolver.
 */
export function probeSchema(slowMs = 300) {
  const calls = { count: 0 };
  const node: GraphQLObjectType = new GraphQLObjectType({
    name: 'Node',
    fields: (): GraphQLFieldConfigMap<unknown, unknown> => ({
      value: { type: GraphQLInt, resolve: () => (calls.count++, 1) },
      child: { type: node, resolve: () => (calls.count++, {}) },
    }),
  });
  const schema = new GraphQLSchema({
    query: new GraphQLObjectType({
      name: 'Query',
      fields: {
        node: { type: node, resolve: () => (calls.count++, {}) },
        boom: {
          type: GraphQLInt,
          resolve: () => {
            calls.count++;
            throw new Error('relation "secret_table" does not exist at /srv/hub/src/db.ts:42');
          },
        },
        unreachable: {
          type: GraphQLInt,
          resolve: () => {
            calls.count++;
            throw Object.assign(new Error('connect ECONNREFUSED 127.0.0.1:5432'), { code: 'ECONNREFUSED' });
          },
        },
        slow: {
          type: GraphQLInt,
          resolve: async () => {
            calls.count++;
            await new Promise((resolve) => setTimeout(resolve, slowMs));
            return 7;
          },
        },
      },
    }),
    mutation: new GraphQLObjectType({
      name: 'Mutation',
      fields: { touch: { type: GraphQLInt, resolve: () => (calls.count++, 1) } },
    }),
  });
  return { schema, calls };
}
