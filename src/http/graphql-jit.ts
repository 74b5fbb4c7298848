import type { GatewayExecutor, GatewayInterface } from '@apollo/server-gateway-interface';
import {
  BREAK,
  execute,
  getVariableValues,
  GraphQLError,
  Kind,
  OperationTypeNode,
  visit,
  type DocumentNode,
  type FragmentDefinitionNode,
  type FragmentSpreadNode,
  type GraphQLSchema,
  type InlineFragmentNode,
  type OperationDefinitionNode,
  type SelectionSetNode,
} from 'graphql';
import { setFlagsFromString } from 'node:v8';
import { compileQuery, isCompiledQuery, type CompiledQuery } from 'graphql-jit';
import { LRUCache } from 'lru-cache';
import { withoutStack } from '../shared/errors.js';
import { BYTES_PER_TOKEN, tokensIn } from './graphql-documents.js';
import { boundedErrors } from './graphql-errors.js';

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
 * With `MAX_COMPILED_NAME`, this bounds what one compilation costs, whatever fragments a document
 * nests within the limits of src/http/graphql.ts: compiling takes about 30 µs a selection (an
 * audience page: 1.6 ms).
 */
export const MAX_COMPILED_SELECTIONS = 500;
/**
 * The longest alias an operation may have to be compiled. graphql-jit spells out each field's
 * whole path of names several times in the code it generates: one alias of 100,000 characters
 * over 90 fields made 36 MB of code, and half a second of compiling.
 */
export const MAX_COMPILED_NAME = 64;
/** What a compiled operation is counted to keep per character of the code generated for it: about 1.1 to 2.8 bytes were measured. */
const BYTES_PER_CODE_CHARACTER = 3;
/**
 * What it is counted to keep per character of its document's text: graphql-jit keeps the
 * document, whose nodes hold the text, for its resolvers' info.
 */
const BYTES_PER_SOURCE_CHARACTER = 4;

/**
 * The memory a compiled operation of this document, with `code` characters of generated code, is
 * counted to keep: the code, the document's text, and the chain of tokens its locations hold, one
 * for each comment too (see `documentSize`).
 */
export function compiledSize(document: DocumentNode, code: number): number {
  return code * BYTES_PER_CODE_CHARACTER + (document.loc?.source.body.length ?? 0) * BYTES_PER_SOURCE_CHARACTER + tokensIn(document) * BYTES_PER_TOKEN;
}

/** What begins the strings graphql-jit's generated code turns back into dates, NaN and infinities (`compilable`). */
const GRAPHQL_JIT_MARKER = '__MAGIC_';

/** What graphql-jit keeps of the code it generated when asked to (its `debug` option); read once, then dropped. */
const GENERATED_CODE = '__DO_NOT_USE_THIS_OR_YOU_WILL_BE_FIRED_compilation';

/**
 * The operation compiled, and the memory it is counted to keep (`compiledSize`, with the length of
 * the code generated); undefined when graphql-jit cannot compile it.
 */
export function compileOperation(schema: GraphQLSchema, document: DocumentNode, name: string | null): { query: CompiledQuery; bytes: number } | undefined {
  const compiling = compileQuery(schema, document, name ?? undefined, { debug: true } as Parameters<typeof compileQuery>[3]);
  if (!isCompiledQuery(compiling)) return undefined;
  const generated = compiling as CompiledQuery & { [GENERATED_CODE]?: string };
  const code = generated[GENERATED_CODE]?.length ?? 0;
  delete generated[GENERATED_CODE];
  return { query: compiling, bytes: compiledSize(document, code) };
}

/**
 * The memory compiled operations may hold, as `compiledSize` counts it. Past it the least
 * recently run are dropped, and run by graphql-js until they have run `COMPILE_AFTER_RUNS` more
 * times: Apollo's store of parsed documents is bounded by their size alone, and would let an
 * attacker who repeats a few hundred large documents fill the heap with their compiled code.
 */
const COMPILED_BYTES = 32 * 2 ** 20;

interface Operation {
  runs: number;
  /** Whether it may be compiled (`compilable`), decided when it is first to be. */
  compilable?: boolean;
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
  const compiled = new LRUCache<Operation, { query: CompiledQuery; bytes: number }>({
    maxSize: compiledBytes,
    sizeCalculation: ({ bytes }) => bytes,
    dispose: (_compiled, operation) => (operation.runs = 0),
  });

  /** The compiled form of this operation when it has one, or has just earned one. */
  const compiledFor = (operation: Operation, document: DocumentNode, definition: OperationDefinitionNode, name: string | null) => {
    const hit = compiled.get(operation);
    if (hit || ++operation.runs <= COMPILE_AFTER_RUNS) return hit?.query;
    operation.compilable ??= compiledSize(document, 0) <= compiledBytes && compilable(document, definition);
    const compiling = operation.compilable ? compileOperation(schema, document, name) : undefined;
    if (!compiling || compiling.bytes > compiledBytes) {
      operation.compilable = false;
      return undefined;
    }
    compiled.set(operation, compiling);
    return compiling.query;
  };

  const executor: GatewayExecutor = async ({ document, operation: definition, operationName, request, context }) => {
    const variableValues = request.variables ?? {};
    const query = compiledFor(operationOf(document, operationName), document, definition, operationName);
    if (!query) {
      const result = await execute({ schema, document, contextValue: context, variableValues, operationName });
      return result.errors ? { ...result, errors: boundedErrors(result.errors) } : result;
    }
    // graphql-js words what is wrong with a variable as the hub's scalars say it (graphql-jit says
    // only "Expected type Date."), in the form Apollo answers as BAD_USER_INPUT.
    const { errors } = getVariableValues(schema, definition.variableDefinitions ?? [], variableValues);
    if (errors) return { errors };
    const result = await query.query(undefined, context, variableValues);
    return result.errors ? { ...result, errors: boundedErrors(result.errors, asGraphQLError) } : result;
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
 * Whether to compile this operation: within the bounds of one compilation
 * (`MAX_COMPILED_SELECTIONS`, `MAX_COMPILED_NAME`), and only where graphql-jit answers as
 * graphql-js does, which it does not:
 * - for mutations: it goes on to the next field after one fails as a whole, and waits forever for
 *   a field whose argument is refused, where graphql-js stops;
 * - for a variable inside an input object written out (`hasVariableInObjectLiteral`);
 * - for `@skip` or `@include` on a fragment spread or an inline fragment: it writes the condition
 *   onto the fragment's own fields, shared by every place it is spread, and ANDs them;
 * - for a variable's default value: it writes it into its code as JSON, so a date becomes a string;
 * - for a string written in the document that holds graphql-jit's own markers (`__MAGIC_`): it
 *   writes literal arguments into its code as JSON and then turns each `"__MAGIC_DATE__…<text>"`
 *   into `new Date(<text>)`, unescaped, so such a string would run as code in the hub.
 */
export function compilable(document: DocumentNode, operation: OperationDefinitionNode): boolean {
  if (operation.operation !== OperationTypeNode.QUERY) return false;
  if (operation.variableDefinitions?.some((variable) => variable.defaultValue !== undefined)) return false;
  if (selectionsOf(document, operation, MAX_COMPILED_SELECTIONS) > MAX_COMPILED_SELECTIONS) return false;
  let refused = false;
  const conditional = (node: FragmentSpreadNode | InlineFragmentNode) => {
    if (node.directives?.some((directive) => directive.name.value === 'skip' || directive.name.value === 'include')) refused = true;
    return refused ? BREAK : undefined;
  };
  visit(document, {
    StringValue(value) {
      if (value.value.includes(GRAPHQL_JIT_MARKER)) refused = true;
      return refused ? BREAK : undefined;
    },
    Field(field) {
      if ((field.alias?.value.length ?? 0) > MAX_COMPILED_NAME) refused = true;
      return refused ? BREAK : undefined;
    },
    FragmentSpread: conditional,
    InlineFragment: conditional,
  });
  return !refused && !hasVariableInObjectLiteral(document);
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
 * (`audience(purpose: $p, filter: { countries: $countries, locales: $locales })`). graphql-jit
 * passes such a field as null when its variable is left out, where graphql-js leaves it out as the
 * spec says (graphql-jit issues #91 and #230).
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
 * it wraps has none, and Apollo's error handling reads them as graphql-js always sets them; and
 * it wraps what a resolver threw as it is, which the schema has already wrapped as graphql-js
 * would (`LocatedErrorsPlugin`): the error wrapped is the one the resolver threw. It takes that
 * error's stack, so it captures none of its own (`withoutStack`).
 */
function asGraphQLError(error: GraphQLError): GraphQLError {
  const { message, locations, path, extensions } = error;
  const originalError = error.originalError instanceof GraphQLError && error.originalError.path && error.originalError.originalError ? error.originalError.originalError : error.originalError;
  return Object.assign(
    withoutStack(() => new GraphQLError(message, { path, originalError, extensions })),
    { locations },
  );
}
