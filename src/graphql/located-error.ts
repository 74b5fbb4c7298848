import { createContextCache } from '@pothos/core';
import { GraphQLError, locatedError as graphqlLocatedError, responsePathAsArray, type GraphQLResolveInfo, type Source, type SourceLocation } from 'graphql';
import { HubError, withoutStack } from '../shared/errors.js';
import { LeftOutError, withinErrorBudget } from './error-budget.js';

/** The line breaks GraphQL counts in a document's text (`\r\n`, `\n`, `\r`): where each starts, and where the line after it does. */
export interface LineBreaks {
  readonly starts: readonly number[];
  readonly ends: readonly number[];
}

/** The line breaks of `text`, found in one pass. */
export function lineBreaksOf(text: string): LineBreaks {
  const breaks = [...text.matchAll(/\r\n|[\n\r]/g)];
  return { starts: breaks.map((match) => match.index), ends: breaks.map((match) => match.index + match[0].length) };
}

/** The line and column of `position` in a text with these `breaks`, as graphql-js's `getLocation` gives them. */
export function locationOf({ starts, ends }: LineBreaks, position: number): SourceLocation {
  // The number of line breaks before `position`, by halving.
  let low = 0;
  let high = starts.length;
  while (low < high) {
    const middle = (low + high) >>> 1;
    if (starts[middle]! < position) low = middle + 1;
    else high = middle;
  }
  return { line: low + 1, column: position + 1 - (low === 0 ? 0 : ends[low - 1]!) };
}

/** The line breaks of the documents a request refused fields of, found once and dropped with the request. */
const requestLineBreaks = createContextCache((_context: object) => new Map<Source, LineBreaks>());

/** Where the field `info` resolves is in the document, as graphql-js's errors name it. */
function locationsOf(context: object, info: GraphQLResolveInfo): SourceLocation[] {
  const documents = requestLineBreaks(context);
  return info.fieldNodes.flatMap(({ loc }) => {
    if (!loc) return [];
    let breaks = documents.get(loc.source);
    if (!breaks) documents.set(loc.source, (breaks = lineBreaksOf(loc.source.body)));
    return [locationOf(breaks, loc.start)];
  });
}

/**
 * What graphql-js's `locatedError` makes of what the resolver of the field `info` resolves threw:
 * a GraphQLError with the field's path and locations wrapping it (an error located already is
 * kept as it is, and one that names its own nodes is left to graphql-js), its locations found
 * with the line breaks of the document found once per request, where graphql-js counts them from
 * the start of the document for each error. A HubError past the request's first MAX_CLIENT_ERRORS
 * client errors is not wrapped: the request's LeftOutError stands for it (`withinErrorBudget`).
 */
export function locatedError(context: object, info: GraphQLResolveInfo, thrown: unknown): GraphQLError {
  const path = responsePathAsArray(info.path);
  if (!(thrown instanceof Error) || Array.isArray((thrown as { path?: unknown }).path) || (thrown instanceof GraphQLError && (thrown.nodes || thrown.positions))) {
    return graphqlLocatedError(thrown, info.fieldNodes, path);
  }
  const locate = () => {
    const locations = locationsOf(context, info);
    // The wrapper takes the stack of the error it wraps: one captured for it would only be formatted and dropped.
    const located = withoutStack(() => new GraphQLError(thrown.message, { path, originalError: thrown }));
    return Object.assign(located, locations.length > 0 ? { locations } : {});
  };
  // The client's errors past the most one answer carries are left out; any other is for the log.
  return thrown instanceof HubError ? withinErrorBudget(context, locate) : locate();
}

/**
 * The error `refuse` makes, with the path and locations of the field `info` resolves, as graphql-js
 * would give them, so that graphql-js reports it as it is; and with no stack, which no one reads
 * of an error the client is answered with. For an error without a path, graphql-js makes a new
 * one per field, which reads the stack of the error it wraps (formatted through the source maps
 * the hub runs with) and counts the document's line breaks from its start to find the field: a
 * refusal for each of 8,000 values took a second of CPU, and 15 s under 50,000 blank lines. Here
 * the line breaks are found once per request, and no stack is captured, let alone formatted.
 * Past the request's first MAX_CLIENT_ERRORS client errors, `refuse` is not even called: the
 * request's LeftOutError stands for the error (`withinErrorBudget`).
 */
export function locatedRefusal<E extends GraphQLError>(context: object, info: GraphQLResolveInfo, refuse: () => E): E | LeftOutError {
  const error = withinErrorBudget(context, () => withoutStack(refuse));
  if (error instanceof LeftOutError) return error;
  const locations = locationsOf(context, info);
  return Object.assign(error, { path: responsePathAsArray(info.path), ...(locations.length > 0 && { locations }) });
}
