import { isOperatorScope } from '../authz/principal.js';
import { isDataScope, OFFLINE_ACCESS, scopeWithin } from '../authz/scopes.js';

/** Most scopes one agent's ceiling may list. */
const MAX_ALLOWED_SCOPES = 64;

/**
 * What is wrong with `scopes` as an agent's ceiling, or undefined: each must be a data scope of
 * the grammar, an operator scope, or `offline_access`; a user-owned agent gets no operator scope;
 * a sub-agent's ceiling lies within its parent's. Never throws.
 */
export function ceilingProblem(scopes: readonly string[], options: { userOwned: boolean; parentCeiling?: readonly string[] }): string | undefined {
  if (scopes.length > MAX_ALLOWED_SCOPES) return `must list at most ${MAX_ALLOWED_SCOPES} scopes`;
  if (new Set(scopes).size !== scopes.length) return 'must not repeat a scope';
  const unknown = scopes.find((scope) => !isDataScope(scope) && !isOperatorScope(scope) && scope !== OFFLINE_ACCESS);
  if (unknown !== undefined) return `${unknown.slice(0, 64)} is not a scope of the grammar`;
  const operator = scopes.find(isOperatorScope);
  if (options.userOwned && operator) return `${operator} is an operator scope, which an agent owned by a user cannot hold`;
  if (options.parentCeiling) {
    const parent = new Set(options.parentCeiling);
    const beyond = scopes.find((scope) => !scopeWithin(scope, parent));
    if (beyond) return `${beyond} is beyond the parent agent's allowed scopes`;
  }
  return undefined;
}
