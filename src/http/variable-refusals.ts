import type { ApolloServerPlugin } from '@apollo/server';
import { getNamedType, isInputObjectType, isInputType, Kind, typeFromAST, type GraphQLError, type GraphQLInputType, type GraphQLNamedType, type GraphQLSchema } from 'graphql';
import { inspect } from 'graphql/jsutils/inspect.js';
import type { Context } from '../graphql/context.js';

/**
 * Refusals of variables answered without the values they quote (see `withoutQuotedValue`), which
 * needs the request's variables: taken out before formatError shortens what it leaves.
 */
export function unquotedVariableRefusals(): ApolloServerPlugin<Context> {
  return {
    async requestDidStart() {
      return {
        async didEncounterErrors({ errors, request, schema }) {
          for (const error of errors) error.message = withoutQuotedValue(error.message, request.variables, variableTypeOf(error, schema));
        },
      };
    },
  };
}

/** The type of the variable a refusal of a variable names (graphql-js gives it its definition). */
function variableTypeOf(error: GraphQLError, schema: GraphQLSchema): GraphQLInputType | undefined {
  const node = error.nodes?.[0];
  const type = node?.kind === Kind.VARIABLE_DEFINITION ? typeFromAST(schema, node.type) : undefined;
  return isInputType(type) ? type : undefined;
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
