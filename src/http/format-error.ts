import { unwrapResolverError } from '@apollo/server/errors';
import { GraphQLError, getNamedType, isInputObjectType, type GraphQLFormattedError, type GraphQLInputType, type GraphQLNamedType } from 'graphql';
import { inspect } from 'graphql/jsutils/inspect.js';
import { HubError } from '../shared/errors.js';

// Only these extensions ever leave the server; stack traces and internal detail never do.
const PUBLIC_EXTENSIONS = ['code', 'reason', 'field', 'retryAfter'] as const;

const MASKED: GraphQLFormattedError = Object.freeze({
  message: 'Internal server error',
  extensions: Object.freeze({ code: 'INTERNAL_SERVER_ERROR' }),
});

/** Removes GraphQL's "Did you mean ...?" hints, which would map the schema for an attacker. */
export function stripSuggestions(message: string): string {
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

const VARIABLE_REFUSAL = /^Variable "\$(\w+)" got invalid value /;

/**
 * graphql-js's refusal of a variable quotes the value refused (`Variable "$input" got invalid
 * value { email: "…", password: "…", typo: 1 }; Field "typo" is not defined by type
 * "SignInInput".`): for one unknown or missing field, the whole input, passwords and all, in an
 * answer that clients' error reporting and gateways keep. The quote is taken out, keeping where
 * and why the value was refused. It is found by printing, as graphql-js did, the variable's value
 * or the part of it at the path the message names, so that no text inside a value is taken for
 * the end of the quote; a message whose quote is not found so is replaced by its first words.
 * The reason after it is a type's own (`withoutEcho`), which may repeat the value too.
 */
export function withoutQuotedValue(message: string, variables: Readonly<Record<string, unknown>> | undefined, variableType?: GraphQLInputType): string {
  const name = VARIABLE_REFUSAL.exec(message)?.[1];
  if (name === undefined) return message;
  const head = `Variable "$${name}" got invalid value`;
  const rest = message.slice(head.length + 1);
  const value = variables?.[name];
  const whole = inspect(value);
  if (rest.startsWith(`${whole}; `)) return `${head}; ${withoutEcho(rest.slice(whole.length + 2), value, variableType && getNamedType(variableType))}`;
  // Each path printed once: a value may hold the words of a path many times over.
  const printed = new Map<string, string>();
  for (const at of rest.matchAll(new RegExp(` at "${name}((?:\\.\\w+|\\[\\d+\\])+)"; `, 'g'))) {
    const path = at[1]!;
    if (!printed.has(path)) printed.set(path, inspect(valueAt(value, path)));
    const quoted = printed.get(path)!;
    if (at.index === quoted.length && rest.startsWith(quoted)) {
      return `${head} at "${name}${path}"; ${withoutEcho(rest.slice(at.index + at[0].length), valueAt(value, path), namedTypeAt(variableType, path))}`;
    }
  }
  return head;
}

/**
 * The reason a type gave for refusing `value`, unless it repeats the value: a scalar words its
 * refusal with it (`String cannot represent a non string value: 20051987`, a password a client
 * sent as a number; `Value "…" does not exist in "Role" enum.`), and such a reason is then only
 * the type the value should have. The value is looked for as graphql-js prints it and, a string
 * or number, as it is, standing as a word of its own.
 */
function withoutEcho(reason: string, value: unknown, type: GraphQLNamedType | undefined): string {
  if (value === null || value === undefined) return reason;
  const forms = new Set([inspect(value), ...(typeof value === 'object' ? [] : [String(value)])]);
  if (![...forms].some((form) => standsIn(reason, form))) return reason;
  return type ? `Expected type "${type.name}".` : 'Expected a value of another type.';
}

const WORD_CHARACTER = /[\w-]/;

/** Whether `form` is in `text` with no word character on either side: not `x` in `Expected`. Linear in `text`. */
function standsIn(text: string, form: string): boolean {
  if (form === '') return false;
  for (let at = text.indexOf(form); at !== -1; at = text.indexOf(form, at + 1)) {
    const before = text[at - 1];
    const after = text[at + form.length];
    if (!(before && WORD_CHARACTER.test(before)) && !(after && WORD_CHARACTER.test(after))) return true;
  }
  return false;
}

/** The named type of the part of a variable of `type` at a path as graphql-js prints it (`.card.expYear`, `[2]`). */
function namedTypeAt(type: GraphQLInputType | undefined, path: string): GraphQLNamedType | undefined {
  let named = type && getNamedType(type);
  // A list's items, and a value given for a list as a list of one, are of the list's named type.
  for (const [, field] of path.matchAll(/\.(\w+)/g)) {
    const fieldType = isInputObjectType(named) ? named.getFields()[field!]?.type : undefined;
    named = fieldType && getNamedType(fieldType);
  }
  return named;
}

/** The part of `value` at a path as graphql-js prints it (`.card.expYear`, `[2]`). */
function valueAt(value: unknown, path: string): unknown {
  let at = value;
  for (const [, key, index] of path.matchAll(/\.(\w+)|\[(\d+)\]/g)) {
    at = at !== null && typeof at === 'object' ? (at as Record<string, unknown>)[key ?? index!] : undefined;
  }
  return at;
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
    (formatted.extensions?.code !== 'INTERNAL_SERVER_ERROR' || answersClientError(original));
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
