import { createContextCache } from '@pothos/core';
import type { Context } from '../graphql/context.js';
import { countFieldDecision } from '../metrics/hub-metrics.js';
import { decideDelegatedField, grantState } from './delegation.js';
import { decideField, type Decision } from './profile-access.js';
import type { DataCategory, FieldRef } from './scopes.js';

// The `profileField` scope: the per-field decision as Pothos asks it, once per field of each user
// a request shows, and how each decision is noted, cached and explained.

/** The parameter of the `profileField` scope: one field of one user's profile. */
export interface ProfileFieldScope {
  readonly userId: string;
  readonly ref: FieldRef;
}

/**
 * The per-field decision on one field of one user's profile for this request's caller: for an
 * agent, on the grant its token check read (scopes, consent, delegation chain); for anyone else,
 * on the token alone.
 */
export function decideProfileField(context: Context, scope: ProfileFieldScope): boolean | Promise<boolean> {
  const { principal } = context;
  if (principal.kind !== 'delegated') return settleField(context, scope, decideField(principal, scope.userId, scope.ref));
  return grantState(context).then((grant) => settleField(context, scope, decideDelegatedField(principal, grant, scope.userId, scope.ref)));
}

/** Why a field was refused: the decision this request made on it, or, for one it did not, the token's. */
export function profileFieldRefusal(context: Context, { userId, ref }: ProfileFieldScope): Decision {
  return fieldDecisions(context).get(fieldKey(userId, ref)) ?? decideField(context.principal, userId, ref);
}

/**
 * Notes a per-field decision in the request's audit of reads and in the metrics, and keeps a
 * refusal for the error of the field. A module function, not a closure made for each field.
 */
function settleField(context: Context, { userId, ref }: ProfileFieldScope, decision: Decision): boolean {
  const denied = decision.allowed ? undefined : decision.reason;
  if (denied) fieldDecisions(context).set(fieldKey(userId, ref), decision);
  context.access.note(userId, ref.field, denied);
  countFieldDecision(context.services.metrics, denied);
  return decision.allowed;
}

/** The refusals of this request's profile fields, so the error of a refused one names its reason. */
const fieldDecisions = createContextCache((_context: Context) => new Map<string, Decision>());
const fieldKey = (userId: string, ref: FieldRef) => `${userId}\u0000${ref.category}.${ref.field}`;

/** Where a scope parameter holds the key `scopeCacheKey` gives it, made with the parameter. */
const SCOPE_CACHE_KEY = Symbol('scope cache key');

/**
 * The key Pothos caches a scope's answer by, per scope and request: the value itself, or, for an
 * object, its JSON. A `profileField` parameter, made for every field of every user shown, carries
 * its own (`fieldKey`, one string per user and field as its JSON is), so no JSON is written for it.
 */
export function scopeCacheKey(value: unknown): unknown {
  if (typeof value !== 'object' || value === null) return value;
  return (value as { [SCOPE_CACHE_KEY]?: string })[SCOPE_CACHE_KEY] ?? JSON.stringify(value);
}

/** The `authScopes` of a profile field of User: the per-field decision for its category. */
export function readScope(category: DataCategory, field: string) {
  return readScopeOf(category, field, (user: { id: string }) => user.id);
}

/**
 * The `authScopes` of a field of another type that shows what a profile field holds (an
 * approval's card and payee are the user's payment data): the per-field decision for that field of
 * the user `userIdOf` names, refused and audited as a read of the field itself is.
 */
export function readScopeOf<Parent>(category: DataCategory, field: string, userIdOf: (parent: Parent) => string) {
  const ref: FieldRef = { category, field };
  return (parent: Parent) => {
    const userId = userIdOf(parent);
    return { profileField: { userId, ref, [SCOPE_CACHE_KEY]: fieldKey(userId, ref) } };
  };
}
