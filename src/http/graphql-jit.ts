import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import { execute, getVariableValues, GraphQLError, type DocumentNode, type GraphQLSchema } from 'graphql';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';

/**
 * Runs of one operation by graphql-js before it is compiled. An application sends the same few
 * documents over and over, and they are compiled within their first requests; a document sent
 * once or a few times (by hand, or by an attacker making each one new) never is. Compiling costs
 * 1.6 ms for an audience page and up to 15 ms for the largest document the limits let through,
 * against well under a millisecond to execute most documents once.
 */
export const COMPILE_AFTER_RUNS = 10;

interface Operation {
  runs: number;
  /** The compiled operation; null when graphql-jit cannot compile it (graphql-js runs it always). */
  compiled?: CompiledQuery | null;
}

/**
 * Executes Apollo's operations, those a client sends again and again compiled by graphql-jit into
 * a function that resolves their selection directly, instead of graphql-js walking the document
 * for every object of every list. The field resolvers run as before, and with them every
 * authorization decision; what goes is graphql-js's walk over 1,000 members × their fields, a
 * tenth to a fifth of the time the hub takes to answer a first page of an audience
 * (bench/audience.ts).
 *
 * Apollo Server takes an executor of one's own only through its gateway interface, which this
 * is: parsing, validation (the limits of src/http/graphql.ts among it), plugins and error
 * formatting stay Apollo's. An operation's runs, and its compiled form, are kept for as long as Apollo keeps
 * its parsed document (its document store, bounded by size).
 */
export function compilingExecutor(schema: GraphQLSchema): GatewayInterface {
  const operations = new WeakMap<DocumentNode, Map<string | null, Operation>>();
  const operationOf = (document: DocumentNode, name: string | null): Operation => {
    let byName = operations.get(document);
    if (!byName) operations.set(document, (byName = new Map()));
    let operation = byName.get(name);
    if (!operation) byName.set(name, (operation = { runs: 0 }));
    return operation;
  };

  const executor: GatewayExecutor = async ({ document, operation: definition, operationName, request, context }) => {
    const variableValues = request.variables ?? {};
    const operation = operationOf(document, operationName);
    if (operation.compiled === undefined && ++operation.runs > COMPILE_AFTER_RUNS) {
      const compiled = compileQuery(schema, document, operationName ?? undefined);
      operation.compiled = isCompiledQuery(compiled) ? compiled : null;
    }
    if (!operation.compiled) return execute({ schema, document, contextValue: context, variableValues, operationName });
    // graphql-js words what is wrong with a variable as the hub's scalars say it (graphql-jit says
    // only "Expected type Date."), in the form Apollo answers as BAD_USER_INPUT.
    const { errors } = getVariableValues(schema, definition.variableDefinitions ?? [], variableValues);
    if (errors) return { errors };
    const result = await operation.compiled.query(undefined, context, variableValues);
    return result.errors ? { ...result, errors: result.errors.map(asGraphQLError) } : result;
  };

  let loaded: ((schemaContext: { apiSchema: GraphQLSchema; coreSupergraphSdl: string }) => void) | undefined;
  return {
    onSchemaLoadOrUpdate(callback) {
      loaded = callback;
      return () => (loaded = undefined);
    },
    async load() {
      loaded?.({ apiSchema: schema, coreSupergraphSdl: '' });
      return { executor };
    },
    async stop() {},
  };
}

/**
 * A graphql-jit error as graphql-js makes one: graphql-jit leaves `extensions` out when the error
 * it wraps has none, and Apollo's error handling reads them as graphql-js always sets them.
 */
function asGraphQLError(error: GraphQLError): GraphQLError {
  const { message, locations, path, originalError, extensions } = error;
  return Object.assign(new GraphQLError(message, { path, originalError, extensions }), { locations });
}
