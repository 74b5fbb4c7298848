import type { Decision } from './profile-access.js';
import { hasScope, type Principal } from './principal.js';

/** The operator scope that reads the hub's metrics, as it reads the audit trail. */
export const METRICS_SCOPE = 'audit:read';

/** May this caller read `/metrics`? A token holding `audit:read` (an operator client). Never throws. */
export function decideMetricsAccess(principal: Principal): Decision {
  return hasScope(principal, METRICS_SCOPE) ? { allowed: true } : { allowed: false, reason: 'MISSING_SCOPE' };
}
