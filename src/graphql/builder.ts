import SchemaBuilder from '@pothos/core';
import ScopeAuthPlugin from '@pothos/plugin-scope-auth';
import { GraphQLError, Kind, type ValueNode } from 'graphql';
import { DateTimeResolver, JSONObjectResolver, SafeIntResolver } from 'graphql-scalars';
import { createAuthScopes, type AuthScopes } from '../authz/auth-scopes.js';
import { unauthorizedError } from '../authz/scope-refusals.js';
import { scopeCacheKey } from '../authz/field-scopes.js';
import type { Context } from './context.js';
import FreshReadsPlugin from './fresh-reads.plugin.js';
import { locatedRefusal } from './located-error.js';
import LocatedErrorsPlugin from './located-errors.plugin.js';

/** The one Pothos builder. Domain files add their types and root fields to it. */
export const builder = new SchemaBuilder<{
  Context: Context;
  AuthScopes: AuthScopes;
  DefaultFieldNullability: false;
  Scalars: {
    DateTime: { Input: Date; Output: Date | string };
    /** A calendar date, 'YYYY-MM-DD'. */
    Date: { Input: string; Output: string };
    /** A JSON object, such as an RFC 9396 authorization_details entry. */
    JSONObject: { Input: Record<string, unknown>; Output: object };
    /** An integer of up to 53 bits: money in minor units, which outgrows Int's 32 in some currencies. */
    SafeInt: { Input: number; Output: number };
  };
}>({
  plugins: [ScopeAuthPlugin, FreshReadsPlugin, LocatedErrorsPlugin],
  defaultFieldNullability: false,
  scopeAuth: {
    authScopes: createAuthScopes,
    // Scope parameters are small objects built per field; cache their answers by value.
    cacheKey: scopeCacheKey,
    // Located here: a query may be refused a field for each of thousands of values.
    unauthorizedError: (_parent, context, info, result) => locatedRefusal(context, info, () => unauthorizedError(context, result.failure)),
  },
});

/**
 * graphql-scalars' DateTime, but an instant finer than the millisecond the hub keeps is taken as the
 * next millisecond, where graphql-scalars (Date.parse) drops the digits past it. Every instant the
 * hub takes is a bound that holds from it on (`from`, an `…After`, an expiry) or until it
 * (`to`, a `…Before`), so rounded up it keeps exactly the stored instants it would: a `to` of
 * 23:59:59.999999, the end of a day as many clients write it, keeps an event of 23:59:59.999.
 */
builder.scalarType('DateTime', {
  description: DateTimeResolver.description ?? undefined,
  serialize: (value) => DateTimeResolver.serialize(value),
  parseValue: (value) => toMillisecondAfter(value, DateTimeResolver.parseValue(value)),
  parseLiteral: (node, variables) => toMillisecondAfter(node.kind === Kind.STRING ? node.value : undefined, DateTimeResolver.parseLiteral(node, variables)),
});
builder.addScalarType('JSONObject', JSONObjectResolver);
builder.addScalarType('SafeInt', SafeIntResolver);
builder.scalarType('Date', {
  description: "A calendar date, 'YYYY-MM-DD' (RFC 3339 full-date).",
  parseValue: (value) => parseDate(value),
  // The refusal of a value written in the document names where it is, as graphql-js's own do.
  parseLiteral: (node) => parseDate(node.kind === Kind.STRING ? node.value : undefined, node),
  serialize: (value) => String(value),
});

builder.queryType({});
builder.mutationType({});

/** @throws GraphQLError, which GraphQL reports as a bad input value (BAD_USER_INPUT). */
function parseDate(value: unknown, node?: ValueNode): string {
  const text = typeof value === 'string' && /^\d{4}-\d{2}-\d{2}$/.test(value) ? value : '';
  const time = Date.parse(`${text}T00:00:00Z`);
  // Date.parse rolls 2023-02-30 over to March; the round trip catches it.
  if (Number.isNaN(time) || !new Date(time).toISOString().startsWith(text)) throw new GraphQLError('must be a calendar date as YYYY-MM-DD', { nodes: node });
  return text;
}

/** `parsed`, read from `text`, one millisecond later when `text` names an instant after it: digits past the millisecond not all zero. */
function toMillisecondAfter(text: unknown, parsed: Date): Date {
  const beyond = typeof text === 'string' ? /[T ]\d{2}:\d{2}:\d{2}\.\d{3}(\d+)/i.exec(text)?.[1] : undefined;
  return beyond !== undefined && /[1-9]/.test(beyond) ? new Date(parsed.getTime() + 1) : parsed;
}
