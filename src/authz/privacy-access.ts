import type { ForbiddenReason } from '../shared/errors.js';
import { hasScope, type Principal } from './principal.js';
import type { Decision } from './profile-access.js';

const ALLOW: Decision = Object.freeze({ allowed: true });
const deny = (reason: ForbiddenReason): Decision => Object.freeze({ allowed: false, reason });

/**
 * May this caller exercise a data subject's rights (export of all their data, erasure) over this
 * user? The user themself, signed in, or an operator client with `users:admin`. Not an agent
 * acting for the user: no consent covers taking everything at once or ending the account. The
 * GraphQL fields declare the same rule as `{ $any: { self: id, operator: 'users:admin' } }`.
 * Never throws.
 */
export function decideDataSubjectRequest(principal: Principal, userId: string): Decision {
  switch (principal.kind) {
    case 'anonymous':
      return deny('MISSING_SCOPE');
    case 'user':
      return principal.userId === userId ? ALLOW : deny('NOT_SUBJECT');
    case 'delegated':
      return deny('NOT_SUBJECT');
    case 'client':
      return hasScope(principal, 'users:admin') ? ALLOW : deny('MISSING_SCOPE');
  }
}
