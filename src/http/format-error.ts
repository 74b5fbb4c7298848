import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, type GraphQLFormattedError } from 'graphql';
import { HubError } from '../shared/errors.js';

// Only these extensions ever leave the server; stack traces and internal detail never do.
const PUBLIC_EXTENSIONS = ['code', 'reason', 'field', 'retryAfter'] as const;

const MASKED: GraphQLFormattedError = Object.freeze({
  message: 'Internal server error',
  extensions: Object.freeze({ code: 'INTERNAL_SERVER_ERROR' }),
});

/** Removes GraphQL's "Did you mean ...?" hints, which would map the schema for an attacker. */
function stripSuggestions(message: string): string {
  return message.replace(/\s*Did you mean [^?]*\?/g, '').trim();
}

/** A run of non-space characters longer than a refusal should repeat from its input (64). */
const LONG_RUN = /\S{65,}/g;
const MESSAGE_LENGTH = 1_000;

/**
 * A refusal written by graphql-js or a scalar repeats the bad value it names, whole (`Variable
 * "$f" got invalid value "xxx…"; DateTime cannot represent … xxx…`): a 100 KB value would come
 * back twice over, to anyone, signed in or not. Each long run of non-space characters keeps its
 * first characters, and the message its first thousand, which still say what was wrong and where.
 */
export function boundEcho(message: string): string {
  const shortened = message.replace(LONG_RUN, (run) => `${run.slice(0, 32)}…`);
  return shortened.length > MESSAGE_LENGTH ? `${shortened.slice(0, MESSAGE_LENGTH - 1)}…` : shortened;
}

/**
 * graphql-armor words the refusals of its limits as syntax errors ("Syntax Error: Aliases limit of
 * 15 exceeded, found 16.") though the document parsed: they keep only what they say.
 */
export function limitRefusal(message: string): string {
  return message.replace(/^Syntax Error: (?=.* limit of \d+ exceeded, found \d+\.$)/s, '');
}

/**
 * Apollo's `formatError`: a HubError keeps its message and public extensions; an error of the
 * request itself (syntax, validation, variables: no `path`) or graphql-js's refusal of an argument
 * becomes `BAD_USER_INPUT`; anything
 * else, above all whatever a resolver or the database threw, is masked to `INTERNAL_SERVER_ERROR`.
 */
export function formatError(formatted: GraphQLFormattedError, error: unknown): GraphQLFormattedError {
  const original = unwrapResolverError(error);
  const location = { ...(formatted.locations && { locations: formatted.locations }), ...(formatted.path && { path: formatted.path }) };
  if (original instanceof HubError) {
    return { message: original.message, ...location, extensions: publicExtensions(original.extensions) };
  }
  const isRequestError =
    !formatted.path &&
    original instanceof GraphQLError &&
    !(original.originalError && !(original.originalError instanceof GraphQLError)) &&
    (formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR' || answersClientError(original) || isVariableLimitRefusal(original));
  if (isRequestError) {
    return { message: boundEcho(stripSuggestions(limitRefusal(formatted.message))), ...location, extensions: { code: 'BAD_USER_INPUT' } };
  }
  if (isArgumentRefusal(original)) return { message: boundEcho(formatted.message), ...location, extensions: { code: 'BAD_USER_INPUT' } };
  return { ...MASKED, ...location };
}

/**
 * graphql-js's refusal of a field's argument as it runs the field: a null in a variable that has
 * a default where the argument is non-null, which validation lets through (GraphQL spec §5.8.5,
 * "Allowing Optional Variables When Default Values Exist"). The client's mistake, though it comes
 * with the field's `path` as a resolver's error does.
 */
function isArgumentRefusal(error: unknown): boolean {
  return error instanceof GraphQLError && error.originalError === undefined && /^Argument "\w+" (of non-null type "[^"]+" must not be null|of required type "[^"]+" was provided the variable "\$\w+" which was not provided a runtime value|has invalid value )/.test(error.message);
}

/**
 * graphql-js stops reading variables at its 50th refusal and adds one of its own, which names no
 * variable, so Apollo gives it no code: the request's refusal all the same.
 */
function isVariableLimitRefusal(error: GraphQLError): boolean {
  return error.message === 'Too many errors processing variables, error limit reached. Execution aborted.';
}

/**
 * Apollo refuses some requests with a bare GraphQLError that has a 4xx status but no code (a
 * persisted query of another version, or whose hash does not match its text): the client's
 * mistake, not an internal error.
 */
function answersClientError(error: GraphQLError): boolean {
  const status = (error.extensions.http as { status?: unknown } | undefined)?.status;
  return typeof status === 'number' && status >= 400 && status < 500;
}

/**
 * True for errors formatError masks: the ones worth logging with their detail. formatError is
 * given the error as Apollo gives it, with `INTERNAL_SERVER_ERROR` for one of no code: given no
 * code, it would count such an error a request error, and an error it masks would go unlogged.
 */
export function isUnexpectedError(error: unknown): boolean {
  const formatted: GraphQLFormattedError =
    error instanceof GraphQLError
      ? { ...error.toJSON(), extensions: { ...error.extensions, code: error.extensions.code ?? 'INTERNAL_SERVER_ERROR' } }
      : { message: '', extensions: { code: 'INTERNAL_SERVER_ERROR' } };
  return formatError(formatted, error).extensions?.code === 'INTERNAL_SERVER_ERROR';
}

function publicExtensions(extensions: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(PUBLIC_EXTENSIONS.filter((key) => extensions[key] !== undefined).map((key) => [key, extensions[key]]));
}
