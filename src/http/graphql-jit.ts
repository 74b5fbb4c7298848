import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import {
  BREAK,
  execute,
  getVariableValues,
  GraphQLError,
  Kind,
  visit,
  type DocumentNode,
  type FragmentDefinitionNode,
  type GraphQLSchema,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { setFlagsFromString } from 'node:v8';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';

// graphql-jit turns each operation into code through `new Function`, and V8 keeps what it compiles
// from a source text in its compilation cache, keyed by that text, for as long as the process
// lives: not after a number of collections, nor when the heap runs short. The code of a compiled
// operation dropped past COMPILED_BYTES would stay there, and a client sending ever new documents
// (each a few times, or with long literals, which the code spells out) would fill the heap. The
// cache saves nothing here: each operation's code is compiled once, and modules load once.
setFlagsFromString('--no-compilation-cache');

/**
 * Runs of one operation by graphql-js before it is compiled. An application sends the same few
 * documents over and over, and they are compiled within their first requests; a document sent
 * once or a few times (by hand, or by an attacker making each one new) never is.
 */
export const COMPILE_AFTER_RUNS = 10;

/**
 * The most selections (fields, fragment spreads and inline fragments, each spread counted with
 * its fragment's own) an operation may have to be compiled; larger ones always run on graphql-js.
 * Compiling a large operation costs about 30 µs and keeps about 2.5 KB per selection (an audience
 * page: 1.6 ms and 23 KB): this bounds one compilation to some 15 ms and 1.5 MB, whatever
 * fragments a document nests within the limits of src/http/graphql.ts.
 */
export const MAX_COMPILED_SELECTIONS = 500;
/** What a compiled operation is counted to keep per selection: the 2.5 KB measured, and a margin. */
export const BYTES_PER_SELECTION = 3_000;
/**
 * What it is counted to keep per character of its document's text: graphql-jit writes literal
 * arguments into the code it generates and keeps the document, whose nodes hold the text, for its
 * resolvers' info. A one-field document around a 120 KB string literal kept about 0.3 MB.
 */
export const BYTES_PER_SOURCE_CHARACTER = 4;

/** The memory a compiled operation of this document, of `selections` selections, is counted to keep. */
export function compiledSize(document: DocumentNode, selections: number): number {
  return selections * BYTES_PER_SELECTION + (document.loc?.source.body.length ?? 0) * BYTES_PER_SOURCE_CHARACTER;
}

/**
 * The memory compiled operations may hold, estimated from their selections and text. Past it the least
 * recently run are dropped, and run by graphql-js until they have run `COMPILE_AFTER_RUNS` more
 * times: Apollo's store of parsed documents is bounded by their size alone, and would let an
 * attacker who repeats a few hundred large documents fill the heap with their compiled code.
 */
export const COMPILED_BYTES = 32 * 2 ** 20;

interface Operation {
  runs: number;
  /** Its selections, counted when it is first to be compiled (up to MAX_COMPILED_SELECTIONS + 1). */
  selections?: number;
  /** Its `compiledSize`, with them. */
  bytes?: number;
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
 * formatting stay Apollo's. An operation's runs are counted for as long as Apollo keeps its
 * parsed document (its document store, bounded by size); compiled forms within `compiledBytes`.
 */
export function compilingExecutor(schema: GraphQLSchema, compiledBytes = COMPILED_BYTES): GatewayInterface {
  const operations = new WeakMap<DocumentNode, Map<string | null, Operation>>();
  const operationOf = (document: DocumentNode, name: string | null): Operation => {
    let byName = operations.get(document);
    if (!byName) operations.set(document, (byName = new Map()));
    let operation = byName.get(name);
    if (!operation) byName.set(name, (operation = { runs: 0 }));
    return operation;
  };
  const compiled = new LRUCache<Operation, CompiledQuery>({
    maxSize: compiledBytes,
    sizeCalculation: (_query, operation) => operation.bytes!,
    dispose: (_query, operation) => (operation.runs = 0),
  });

  /** The compiled form of this operation when it has one, or has just earned one. */
  const compiledFor = (operation: Operation, document: DocumentNode, definition: OperationDefinitionNode, name: string | null) => {
    const query = compiled.get(operation);
    if (query || ++operation.runs <= COMPILE_AFTER_RUNS) return query;
    operation.selections ??= selectionsOf(document, definition, MAX_COMPILED_SELECTIONS);
    operation.bytes ??= compiledSize(document, operation.selections);
    if (operation.selections > MAX_COMPILED_SELECTIONS || operation.bytes > compiledBytes) return undefined;
    const compiling = hasVariableInObjectLiteral(document) ? undefined : compileQuery(schema, document, name ?? undefined);
    if (!compiling || !isCompiledQuery(compiling)) {
      // Never compiled again: counted as too large.
      operation.selections = MAX_COMPILED_SELECTIONS + 1;
      return undefined;
    }
    compiled.set(operation, compiling);
    return compiling;
  };

  const executor: GatewayExecutor = async ({ document, operation: definition, operationName, request, context }) => {
    const variableValues = request.variables ?? {};
    const query = compiledFor(operationOf(document, operationName), document, definition, operationName);
    if (!query) return execute({ schema, document, contextValue: context, variableValues, operationName });
    // graphql-js words what is wrong with a variable as the hub's scalars say it (graphql-jit says
    // only "Expected type Date."), in the form Apollo answers as BAD_USER_INPUT.
    const { errors } = getVariableValues(schema, definition.variableDefinitions ?? [], variableValues);
    if (errors) return { errors };
    const result = await query.query(undefined, context, variableValues);
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
 * The selections of an operation with every fragment spread expanded, counted up to `limit + 1`:
 * the walk stops there, so a document that nests spreads of spreads costs no more to count.
 */
export function selectionsOf(document: DocumentNode, operation: OperationDefinitionNode, limit: number): number {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const definition of document.definitions) if (definition.kind === Kind.FRAGMENT_DEFINITION) fragments.set(definition.name.value, definition);
  let count = 0;
  const walk = (set: SelectionSetNode | undefined): void => {
    for (const selection of set?.selections ?? []) {
      if (++count > limit) return;
      walk(selection.kind === Kind.FRAGMENT_SPREAD ? fragments.get(selection.name.value)?.selectionSet : selection.selectionSet);
    }
  };
  walk(operation.selectionSet);
  return Math.min(count, limit + 1);
}

/**
 * Whether a variable stands for a field of an input object written in the document
 * (`updateProfile(input: { phone: $phone })`). graphql-jit passes such a field as null when its
 * variable is left out, where graphql-js leaves it out as the spec says (graphql-jit issues #91
 * and #230): a form that sends only what changed would clear every field it left out, once its
 * operation is compiled. Such operations always run on graphql-js.
 */
export function hasVariableInObjectLiteral(document: DocumentNode): boolean {
  let found = false;
  visit(document, {
    ObjectField(field) {
      visit(field.value, {
        Variable() {
          found = true;
          return BREAK;
        },
      });
      return found ? BREAK : undefined;
    },
  });
  return found;
}

/**
 * A graphql-jit error as graphql-js makes one: graphql-jit leaves `extensions` out when the error
 * it wraps has none, and Apollo's error handling reads them as graphql-js always sets them.
 */
function asGraphQLError(error: GraphQLError): GraphQLError {
  const { message, locations, path, originalError, extensions } = error;
  return Object.assign(new GraphQLError(message, { path, originalError, extensions }), { locations });
}
